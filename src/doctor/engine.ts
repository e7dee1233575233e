/** The engine (reachable, version, API version) and the sandbox runs get on it (gVisor's runsc, else runc). */
import { EngineUnavailable } from './engine-probe.js';
import { MoatError } from '../errors.js';
import { chooseSandbox, gvisorFix } from '../runtime/sandbox.js';
import { requestedSandbox } from '../run/sandbox-choice.js';
import { fail, ok, warn, type Check, type CheckResult, type DoctorContext } from './types.js';

/** The oldest Engine API moat is tested with. */
const MIN_API = '1.41';

const apiAtLeast = (have: string, want: string): boolean => {
  const [a = 0, b = 0] = have.split('.').map(Number);
  const [c = 0, d = 0] = want.split('.').map(Number);
  return a > c || (a === c && b >= d);
};

/** A check that needs the engine's facts: when the engine gave none, it says so once (the engine check fails). */
export async function withEngine(
  name: string,
  ctx: DoctorContext,
  fn: (facts: Awaited<ReturnType<DoctorContext['engine']['about']>>) => Promise<CheckResult>,
): Promise<CheckResult> {
  let facts;
  try {
    facts = await ctx.engine.about();
  } catch (err) {
    if (err instanceof EngineUnavailable) return warn(name, 'not checked: the engine did not answer (see the engine check)');
    throw err;
  }
  return fn(facts);
}

export const engineCheck: Check = {
  name: 'engine',
  onTimeout: { detail: 'the Docker engine did not answer', fix: 'sudo systemctl restart docker (or point DOCKER_HOST at a working engine)' },
  async run(ctx) {
    try {
      const f = await ctx.engine.about();
      const what = `${f.product === 'podman' ? 'Podman' : 'Docker Engine'} ${f.version} (API ${f.api}, ${f.os}/${f.arch}) at ${f.address}`;
      if (!apiAtLeast(f.api, MIN_API)) return fail('engine', `${what}: moat needs Engine API ${MIN_API} or newer`, 'Upgrade Docker Engine to 20.10 or newer');
      return ok('engine', what);
    } catch (err) {
      if (err instanceof EngineUnavailable) return fail('engine', err.message, err.fix);
      throw err;
    }
  },
};

export const sandboxCheck: Check = {
  name: 'sandbox',
  onTimeout: { detail: 'the Docker engine did not list its runtimes', fix: 'sudo systemctl restart docker', status: 'warn' },
  run: (ctx) =>
    withEngine('sandbox', ctx, async (f) => {
      // What a run here gets: MOAT_SANDBOX as a run would read it (moat.yaml and --sandbox are per run).
      let choice;
      try {
        choice = chooseSandbox(requestedSandbox(undefined, ctx.env, undefined), f.runtimes, f.defaultRuntime, f.address, f.product);
      } catch (err) {
        if (err instanceof MoatError) return fail('sandbox', err.message, err.hint ?? gvisorFix(f.product));
        throw err;
      }
      if (choice.fallback) return warn('sandbox', `runs use runc (this host's kernel): ${choice.fallback}`, gvisorFix(f.product));
      return ok(
        'sandbox',
        choice.sandbox === 'gvisor' ? `runs use gVisor (runtime "${choice.engineRuntime ?? 'runsc'}")` : 'runs use runc (MOAT_SANDBOX=runc)',
      );
    }),
};
