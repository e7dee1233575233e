/**
 * `moat doctor` as plain data: each check is a small module that looks at one thing and answers OK, WARN
 * or FAIL with one line of detail and, for a problem, the exact fix. Checks never print, never write
 * state, and never put a secret in a detail or a fix.
 */
import type { MoatHome } from '../home/paths.js';
import type { EngineProbe } from './engine-probe.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  /** The exact command or setting that fixes the problem (absent when there is none). */
  fix?: string;
}

export interface DoctorContext {
  home: MoatHome;
  env: NodeJS.ProcessEnv;
  /** The workspace the command runs in (for its moat.yaml's agent versions). */
  cwd: string;
  now: Date;
  /** The engine, asked once and shared by every check that needs it. */
  engine: EngineProbe;
}

export interface Check {
  name: string;
  /** How long the check may take before it is reported as hung (default {@link DEFAULT_CHECK_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** What a hung check says and how to fix it. */
  onTimeout: { detail: string; fix: string; status?: CheckStatus };
  /** One result, or several (one per grant). */
  run(ctx: DoctorContext): Promise<CheckResult | CheckResult[]>;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 20_000;

export const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail });
export const warn = (name: string, detail: string, fix?: string): CheckResult => ({ name, status: 'warn', detail, ...(fix ? { fix } : {}) });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });
