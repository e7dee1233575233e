/** The engine (reachable, version, API version) and its sandbox runtimes (runc; gVisor's runsc, reported only). */
import { EngineUnavailable } from './engine-probe.js';
import { fail, ok, warn, type Check, type CheckResult, type DoctorContext } from './types.js';

/** The oldest Engine API moat is tested with. */
export const MIN_API = '1.41';

const apiAtLeast = (have: string, want: string): boolean => {
  const [a = 0, b = 0] = have.split('.').map(Number);
  const [c = 0, d = 0] = want.split('.').map(Number);
  return a > c || (a === c && b >= d);
};

/** A check that needs the engine's facts: when the engine gave none, it says so once (the engine check fails). */
export async function withEngine(name: string, ctx: DoctorContext, fn: (facts: Awaited<ReturnType<DoctorContext['engine']['about']>>) => Promise<CheckResult>): Promise<CheckResult> {
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
      const what = `Docker Engine ${f.version} (API ${f.api}, ${f.os}/${f.arch}) at ${f.address}`;
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
  run: (ctx) => withEngine('sandbox', ctx, async (f) => {
    const names = Object.keys(f.runtimes);
    const runsc = Object.entries(f.runtimes).find(([n, r]) => n === 'runsc' || (r.path ?? '').endsWith('/runsc'));
    const gvisor = runsc ? `gVisor registered as "${runsc[0]}" (${runsc[1].path ?? 'runsc'})` : 'gVisor (runsc) not registered (optional)';
    if (!names.includes('runc') && f.defaultRuntime !== 'runc') {
      return warn('sandbox', `default runtime ${f.defaultRuntime}, runc not registered; ${gvisor}`, 'Register runc with the engine (it is the runtime moat is tested with)');
    }
    return ok('sandbox', `runc${f.defaultRuntime === 'runc' ? ' (default)' : `, default ${f.defaultRuntime}`}; ${gvisor}`);
  }),
};
