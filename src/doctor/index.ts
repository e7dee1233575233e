/** Every check of `moat doctor`, in the order they are reported. */
import type { MoatHome } from '../home/paths.js';
import { caCheck } from './ca.js';
import { daemonCheck } from './daemon.js';
import { diskCheck } from './disk.js';
import { EngineProbe } from './engine-probe.js';
import { engineSetting } from '../config/engine-setting.js';
import { engineCheck, sandboxCheck } from './engine.js';
import { grantsCheck } from './grants.js';
import { hostCasCheck } from './host-cas.js';
import { agentsCheck, imagesCheck } from './images.js';
import { keyCheck } from './key.js';
import { routingCaCheck } from './routing-ca.js';
import { runChecks } from './run.js';
import type { Check, CheckResult } from './types.js';

export { exitCodeOf } from './run.js';
export type { CheckResult, CheckStatus } from './types.js';

const CHECKS: readonly Check[] = [
  engineCheck,
  sandboxCheck,
  daemonCheck,
  caCheck,
  routingCaCheck,
  keyCheck,
  grantsCheck,
  imagesCheck,
  agentsCheck,
  hostCasCheck,
  diskCheck,
];

export function doctor(opts: { home: MoatHome; env: NodeJS.ProcessEnv; cwd: string; now?: Date; engineTimeoutMs?: number }): Promise<CheckResult[]> {
  return runChecks(CHECKS, {
    home: opts.home,
    env: opts.env,
    cwd: opts.cwd,
    now: opts.now ?? new Date(),
    engine: new EngineProbe(opts.env, opts.engineTimeoutMs, () => engineSetting(opts.home.globalConfig)),
  });
}
