import pc from 'picocolors';
import { MoatHome } from '../home/paths.js';
import type { ContainerRuntime } from '../runtime/types.js';
import { DockerRuntime } from '../runtime/docker/docker-runtime.js';
import { engineSetting } from '../config/engine-setting.js';
import { RunStore } from '../store/store.js';
import { effectiveState } from '../run/reconcile.js';
import type { RunMetadata } from '../store/types.js';
import { MoatError } from '../errors.js';
import { isEngineUnreachable } from '../runtime/docker/errors.js';
import { textFor } from '../term/sanitize.js';

/** Text a container or a workspace could have chosen, for stdout / stderr: neutralised on a terminal. */
export const forOut = (s: string): string => textFor(process.stdout)(s);
export const forErr = (s: string): string => textFor(process.stderr)(s);

/** What every command gets: the home, a lazily created runtime, and output helpers. */
export class CliContext {
  readonly home: MoatHome;
  readonly store: RunStore;
  private rt: ContainerRuntime | undefined;
  /** --dry-run: say what would be created or removed, and create or remove nothing. */
  dryRun = false;
  /** Set once the engine could not be reached: runs are then shown as the store last recorded them. */
  private engineDown = false;

  /** `--json`: stdout carries only JSON, and notes (`info`) are not printed, so stderr holds nothing but an error document. */
  readonly json: boolean;

  constructor(
    readonly env: NodeJS.ProcessEnv = process.env,
    opts: { json?: boolean } = {},
  ) {
    this.json = opts.json ?? false;
    this.home = MoatHome.fromEnv(env);
    this.store = new RunStore(this.home);
  }

  get runtime(): ContainerRuntime {
    this.rt ??= new DockerRuntime(process.env, () => engineSetting(this.home.globalConfig));
    return this.rt;
  }

  /** Informational messages go to stderr so stdout stays the command's own output (`style`: moat's colour). */
  info(msg: string, style: (s: string) => string = (s) => s): void {
    if (this.json) return;
    process.stderr.write(`${style(forErr(msg))}\n`);
  }

  warn(msg: string): void {
    process.stderr.write(`${pc.yellow('warning:')} ${forErr(msg)}\n`);
  }

  /**
   * A run as it really is: the store's record checked against its container (read-only). Without an
   * engine, the record as it is, after a one-line warning: list, logs, trace and audit read only the store.
   */
  async reconcile(meta: RunMetadata): Promise<RunMetadata> {
    if (this.engineDown) return meta;
    try {
      return await effectiveState(meta, this.runtime, (id) => this.store.read(id));
    } catch (err) {
      if (!isEngineUnreachable(err)) throw err;
      if (!this.engineDown) this.warn(`${(err as Error).message.replace(/\.$/, '')}: runs are shown as last recorded.`);
      this.engineDown = true;
      return meta;
    }
  }

  /** Every run of this home, reconciled, newest first. */
  async reconcileAll(): Promise<RunMetadata[]> {
    return Promise.all((await this.store.list()).map((m) => this.reconcile(m)));
  }

  /**
   * Resolve a run reference (id, id prefix or name); without one, the most recent run that `suits`,
   * saying which was picked.
   */
  async pickRun(ref: string | undefined, what: string, suits: (m: RunMetadata) => boolean): Promise<RunMetadata> {
    if (ref) return this.reconcile(await this.store.resolve(ref));
    for (const m of await this.store.list()) {
      const eff = await this.reconcile(m);
      if (suits(eff)) {
        this.info(`(${what} ${eff.name}, ${eff.id})`, pc.dim);
        return eff;
      }
    }
    throw new MoatError(`There is no run to ${what}.`, { code: 'E_NOT_FOUND', hint: 'moat list shows the runs; moat run starts one.' });
  }
}
