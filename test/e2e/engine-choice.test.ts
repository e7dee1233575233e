/**
 * The engine a run goes to: under `npm run test:e2e:podman` every run of the suite goes to Podman (through
 * its Docker-compatible API), and this file proves it with Podman's own CLI; under `npm run test:e2e` the
 * same assertions hold for Docker. An engine that is not the one ~/.moat/config.yaml names is refused
 * before anything is created.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_ENGINE, cleanupHome, containersOf, moat, parseDetached, tempDir } from './helpers.js';

const execFileP = promisify(execFile);

let home: string;
let ws: string;

beforeAll(async () => {
  home = await tempDir('engine-home');
  ws = await tempDir('engine-ws');
});

afterAll(async () => {
  await cleanupHome(home, ws, [ws]);
});

describe(`the engine runs go to (${E2E_ENGINE})`, () => {
  it(`a run's container is one the engine's own CLI (${E2E_ENGINE} ps) lists, and moat status --json names the engine`, async () => {
    const r = await moat(['run', '-d', '--', 'sleep', '30'], { home, cwd: ws, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    // The engine's own CLI on its own store (podman ps reads Podman's storage, not an API a proxy could fake).
    const ps = await execFileP(E2E_ENGINE, ['ps', '-a', '--no-trunc', '--filter', `label=moat.home=${home}`, '--format', '{{.Labels}}']);
    expect(ps.stdout).toContain(id);
    const status = await moat(['status', '--json'], { home, cwd: ws });
    expect(status.code, status.stderr).toBe(0);
    const engine = (JSON.parse(status.stdout) as { engine: { reachable: boolean; name: string; version: string } }).engine;
    expect(engine).toMatchObject({ reachable: true, name: E2E_ENGINE });
    const own = await execFileP(E2E_ENGINE, ['version', '--format', '{{.Server.Version}}']);
    expect(engine.version).toBe(own.stdout.trim());
    expect((await moat(['stop', id], { home, cwd: ws })).code).toBe(0);
    // Five engine round trips, each bounded above (the detached run by 120 s, the CLI calls by 55 s); on
    // Podman under load its GET /version alone takes seconds, so the default 60 s would cut them short.
  }, 300_000);

  it('engine: in ~/.moat/config.yaml names the other engine: the run is refused with the fix, nothing is created', async () => {
    const other = E2E_ENGINE === 'podman' ? 'docker' : 'podman';
    const address = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
    await writeFile(join(home, 'config.yaml'), `engine: ${other}\n`);
    try {
      const before = await containersOf(home);
      const r = await moat(['run', '--', 'true'], { home, cwd: ws, env: { DOCKER_HOST: address } });
      expect(r.code).toBe(125);
      expect(r.stderr).toContain(
        `~/.moat/config.yaml sets engine: ${other}, but the engine at ${address} is ${E2E_ENGINE === 'podman' ? 'Podman' : 'Docker'}.`,
      );
      // Nothing new (the earlier test's stopped container may still be on its way out: Podman removes it after `stop` returns).
      expect((await containersOf(home)).filter((c) => !before.includes(c))).toEqual([]);
    } finally {
      await writeFile(join(home, 'config.yaml'), '');
    }
  });
});
