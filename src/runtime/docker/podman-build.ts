/**
 * Image builds on Podman (4.3, through its Docker-compatible API).
 *
 * Podman's build endpoints ignore the classic builder's `networkmode`: measured on Podman 4.3.1, steps
 * built with `networkmode=container:ID` or `networkmode=none` (on `/build` and `/libpod/build` alike) ran
 * in the host's network namespace and reached services on its loopback, on the Docker bridge and on eth0.
 * What they do honour is `nsoptions` (buildah's namespace options, what `podman --remote build
 * --network …` sends): `[{"Name":"network","Path":"/proc/PID/ns/net"}]` runs every step in that
 * process's network namespace (measured: only `lo`, every host address refused).
 *
 * A PID can be reused once its process ends, so the namespace is not taken from the relay (whose
 * processes a build step talks to and could exhaust) but from a holder container that joins it: it runs
 * `sleep`, listens on nothing, shares nothing with the steps but the namespace, and is removed after the
 * build. If the holder is gone when the build ends, the image is removed and the build fails.
 */
import { randomBytes } from 'node:crypto';
import { MoatError } from '../../errors.js';
import type { BuildRequest, ContainerRuntime } from '../types.js';
import { BuildFailed, buildImage, buildQuery } from './build.js';
import type { EngineApi } from './engine-api.js';

interface HolderJson {
  Id: string;
  Config: { Image: string; User?: string; Labels?: Record<string, string> | null };
  State: { Running: boolean; Pid: number };
}

/** The relay container of a build's `networkMode` (`container:ID`); undefined for any other mode (refused on Podman). */
export function relayOf(networkMode: string): string | undefined {
  return /^container:([A-Za-z0-9][A-Za-z0-9_.-]{0,127})$/.exec(networkMode)?.[1];
}

/** The query of a Podman build: the classic one, with the network given as a namespace path instead of `networkmode`. */
export function podmanBuildQuery(req: BuildRequest, netnsPath: string): Record<string, string> {
  const { networkmode: _ignoredByPodman, ...q } = buildQuery(req);
  return { ...q, nsoptions: JSON.stringify([{ Name: 'network', Path: netnsPath }]) };
}

/** Podman words a step "STEP 2/6: RUN …"; moat's progress and errors read Docker's "Step 2/6 : RUN …". */
export function dockerStepLine(line: string): string {
  const m = /^STEP (\d+\/\d+): (.*)$/s.exec(line);
  return m ? `Step ${m[1]} : ${m[2]}` : line;
}

export async function buildOnPodman(runtime: ContainerRuntime, api: EngineApi, req: BuildRequest): Promise<string | undefined> {
  const relayId = relayOf(req.networkMode);
  if (!relayId) {
    throw new MoatError(`Podman cannot confine an image build to the network "${req.networkMode}", so moat does not build with it on Podman.`, {
      code: 'E_BUILD',
      hint: 'Build the image with Docker (unset DOCKER_HOST), then load it into Podman: docker save IMAGE | sudo podman load',
      exitCode: 125,
    });
  }
  const inspect = (id: string): Promise<HolderJson> => api.json<HolderJson>('GET', `/containers/${encodeURIComponent(id)}/json`);
  const relay = await inspect(relayId);
  if (!relay.State.Running) throw new BuildFailed("the build's network relay is not running");
  const holder = await runtime.create({
    name: `moat-build-netns-${randomBytes(5).toString('hex')}`,
    image: relay.Config.Image,
    entrypoint: ['sleep', 'infinity'],
    cmd: [],
    env: {},
    workingDir: '/',
    // The relay's labels (moat's, its home's): `moat clean` finds a holder a killed CLI left behind.
    labels: relay.Config.Labels ?? {},
    mounts: [],
    tty: false,
    openStdin: false,
    network: `container:${relay.Id}`,
    pidsLimit: 8,
    memoryBytes: 32 * 1024 * 1024,
    capAdd: [],
    user: relay.Config.User || '65534:65534',
    readOnlyRootfs: true,
  });
  try {
    await runtime.start(holder);
    const before = await inspect(holder);
    if (!before.State.Running || !(before.State.Pid > 0)) throw new BuildFailed("the build's network namespace holder did not start");
    const id = await buildImage(api, { ...req, onOutput: (l) => req.onOutput(dockerStepLine(l)) }, podmanBuildQuery(req, `/proc/${before.State.Pid}/ns/net`));
    const after = await inspect(holder).catch(() => undefined);
    if (!after?.State.Running || after.State.Pid !== before.State.Pid) {
      // The path may have named another process's namespace for the later steps: the image is not kept.
      await runtime.removeImage(req.tag).catch(() => undefined);
      throw new BuildFailed("the build's network namespace went away during the build; the image was discarded");
    }
    return id;
  } finally {
    await runtime.remove(holder, true).catch(() => undefined);
  }
}
