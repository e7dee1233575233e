/**
 * The sandbox a run asks for (--sandbox, then MOAT_SANDBOX, then moat.yaml's `sandbox:`), and the one it
 * gets from what the engine has registered (runtime/sandbox.ts). A run that falls back to runc because
 * gVisor is missing says so once per home, the first time.
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { MoatError, errnoCode } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import type { ContainerRuntime } from '../runtime/types.js';
import type { EngineRuntimes } from '../daemon/engine-runtimes.js';
import { chooseSandbox, isSandbox, runcNotice, type Sandbox, type SandboxChoice, type SandboxSource } from '../runtime/sandbox.js';

export type SandboxRequest = { sandbox: Sandbox; source: SandboxSource };

/** The sandbox asked for, by the first of flag, environment and moat.yaml that names one. */
export function requestedSandbox(flag: string | undefined, env: NodeJS.ProcessEnv, file: Sandbox | undefined): SandboxRequest | undefined {
  if (flag !== undefined) {
    if (!isSandbox(flag))
      throw new MoatError(`invalid --sandbox ${JSON.stringify(flag)}: expected gvisor or runc`, { code: 'E_CONFIG', hint: 'Example: --sandbox runc' });
    return { sandbox: flag, source: '--sandbox' };
  }
  const fromEnv = env.MOAT_SANDBOX;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isSandbox(fromEnv)) {
      throw new MoatError(`MOAT_SANDBOX=${JSON.stringify(fromEnv).slice(0, 40)} is not a sandbox: expected gvisor or runc.`, {
        code: 'E_CONFIG',
        hint: 'Set MOAT_SANDBOX=gvisor or MOAT_SANDBOX=runc, or unset it.',
      });
    }
    return { sandbox: fromEnv, source: 'MOAT_SANDBOX' };
  }
  return file ? { sandbox: file, source: 'moat.yaml' } : undefined;
}

/** Where the home remembers it has said the runc notice. */
const noticeFile = (home: MoatHome): string => join(home.root, 'notices', 'sandbox-runc');

/** What the engine has (runtimes, CPUs): the daemon's list when it is of this same engine, else GET /info. */
export async function engineFacts(runtime: ContainerRuntime, known?: Promise<EngineRuntimes | undefined>): Promise<EngineRuntimes> {
  const cached = await known?.catch(() => undefined);
  return cached && runtime.address !== undefined && cached.address === runtime.address ? cached : await runtime.runtimes();
}

/** The sandbox of a run on this engine; a fallback to runc is noticed once per home. */
export async function chooseRunSandbox(
  home: MoatHome,
  facts: EngineRuntimes,
  request: SandboxRequest | undefined,
  warn: (m: string) => void,
): Promise<SandboxChoice> {
  const choice = chooseSandbox(request, facts.runtimes, facts.defaultRuntime, facts.address, facts.engine);
  if (choice.fallback && (await firstTime(noticeFile(home)))) warn(runcNotice(choice.fallback, facts.engine));
  return choice;
}

/** {@link chooseRunSandbox} on {@link engineFacts}. */
export async function resolveRunSandbox(
  home: MoatHome,
  runtime: ContainerRuntime,
  request: SandboxRequest | undefined,
  warn: (m: string) => void,
  known?: Promise<EngineRuntimes | undefined>,
): Promise<SandboxChoice> {
  return chooseRunSandbox(home, await engineFacts(runtime, known), request, warn);
}

/** True the first time for this marker file (created exclusively, so two runs at once say it once). */
async function firstTime(file: string): Promise<boolean> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  try {
    await (await open(file, 'wx', 0o600)).close();
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
}
