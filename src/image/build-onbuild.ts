/**
 * A base image's `ONBUILD` triggers run as the first steps of moat's build. Most run inside the build's
 * boundary (build-relay.ts), but two are carried out by the engine itself, on the host's network, outside
 * the gateway and unrecorded: `ADD <url>` (the classic builder downloads it, so it reaches the host's
 * loopback and private networks, and the answer lands in the image) and `COPY/ADD --from=<image>` (the
 * engine pulls any image it names). `RUN --network=…`, `--mount=…`, `--security=…` (honoured by Podman's
 * builder, buildah) would take a step out of the relay's network or mount an image or the host's files: a
 * RUN trigger with any flag is refused too. A base image with such a trigger is refused before anything is built.
 */
import { MoatError } from '../errors.js';
import { sanitizeForTerminal } from '../term/sanitize.js';

/**
 * What makes the engine fetch: a URL (`http://…`; quotes are removed before looking, as the builder's word
 * processing removes them), a git remote, `--from`. A `$` (variables the base image or an ONBUILD ARG sets)
 * or a `\` (escapes, `\u0068ttp` in the JSON form) could spell any of them when the trigger runs: refused too.
 */
const FETCHES = /:\/\/|git@|(?:^|[\s[,])github\.com\/|--from|\$|\\/i;

/** The triggers that would fetch outside the build's gateway (empty: none). */
export function fetchingTriggers(onBuild: readonly string[]): string[] {
  return onBuild.filter((trigger) => {
    const m = /^\s*(\S+)([\s\S]*)$/.exec(trigger);
    const instruction = (m?.[1] ?? '').toUpperCase();
    if (instruction === 'RUN') return /^\s*--/.test(m?.[2] ?? '');
    if (instruction !== 'ADD' && instruction !== 'COPY') return false;
    return FETCHES.test((m?.[2] ?? '').replace(/["']/g, ''));
  });
}

/** The refusal of a base image whose ONBUILD triggers would fetch outside the build's boundary (undefined: none). */
export function onBuildRefusal(image: string, onBuild: readonly string[]): MoatError | undefined {
  const bad = fetchingTriggers(onBuild);
  if (bad.length === 0) return undefined;
  const shown = bad
    .slice(0, 3)
    .map((t) => `"ONBUILD ${sanitizeForTerminal(t.slice(0, 120))}"`)
    .join(', ');
  return new MoatError(
    `The base image ${sanitizeForTerminal(image)} has ONBUILD steps that would fetch or run outside the build's network boundary: ${shown}.`,
    {
      hint: 'Use a base image without ONBUILD ADD of a URL, COPY --from or RUN --flags (set base_image in moat.yaml), or build it yourself with that step made a plain file.',
      code: 'E_BUILD',
      exitCode: 1,
    },
  );
}
