import type { CliContext } from './context.js';
import { chooseSandbox, runcNotice, type Sandbox } from '../runtime/sandbox.js';
import { requestedSandbox } from '../run/sandbox-choice.js';

export interface SandboxView {
  /** What a run started here gets; undefined: none (MOAT_SANDBOX asks for a gVisor the engine lacks). */
  sandbox?: Sandbox;
  line: string;
  /** The runc notice (or the error a run would give), as a hint. */
  notice?: string;
}

/** The sandbox a run started here gets (MOAT_SANDBOX, else what the engine has), for `moat status`. */
export async function sandboxView(ctx: CliContext): Promise<SandboxView> {
  const { defaultRuntime, runtimes, address, engine } = await ctx.runtime.runtimes();
  try {
    const c = chooseSandbox(requestedSandbox(undefined, ctx.env, undefined), runtimes, defaultRuntime, address, engine);
    if (c.sandbox === 'gvisor') return { sandbox: 'gvisor', line: "gvisor (runs get gVisor's kernel)" };
    return { sandbox: 'runc', line: "runc (runs share this host's kernel)", ...(c.fallback ? { notice: runcNotice(c.fallback, engine) } : {}) };
  } catch (err) {
    const hint = (err as { hint?: string }).hint;
    return { line: (err as Error).message, ...(hint ? { notice: hint } : {}) };
  }
}
