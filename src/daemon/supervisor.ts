import type { ContainerRuntime, LogLine } from '../runtime/types.js';
import type { RunStore } from '../run/store.js';
import { LIVE_STATES, type LogRecord } from '../run/types.js';
import type { MoatHome } from '../home/paths.js';
import { AuditSink } from './audit-sink.js';

/**
 * Owns the live runs of one moat home: records every output line into logs.jsonl (in every mode, with or
 * without a CLI attached), records the exit, and removes the container unless the run keeps it.
 */
export class Supervisor {
  private readonly watching = new Map<string, Promise<void>>();

  constructor(
    private readonly home: MoatHome,
    private readonly store: RunStore,
    private readonly runtime: ContainerRuntime,
    private readonly log: (msg: string) => void,
  ) {}

  get size(): number { return this.watching.size; }
  ids(): string[] { return [...this.watching.keys()]; }

  watch(id: string): void {
    if (this.watching.has(id)) return;
    const p = this.follow(id)
      .catch((err: unknown) => this.log(`run ${id}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.watching.delete(id));
    this.watching.set(id, p);
  }

  /** Re-attach to every live run of the store (after a daemon restart). */
  async resumeAll(): Promise<void> {
    for (const m of await this.store.list()) if (LIVE_STATES.has(m.state) && m.containerId) this.watch(m.id);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.watching.values()]);
  }

  private async follow(id: string): Promise<void> {
    const meta = await this.store.read(id);
    if (!meta?.containerId) return;
    const containerId = meta.containerId;
    const info = await this.runtime.inspect(containerId);
    if (!info) {
      await this.store.update(id, (m) => (LIVE_STATES.has(m.state) ? { ...m, state: 'failed', reason: 'its container is gone' } : undefined));
      return;
    }
    const audit = await AuditSink.open(this.home, meta, this.store.dir(id), this.log);
    let exitCode: number;
    try {
      await this.followLogs(id, containerId, info.tty, meta.lastLogTs, audit);
      exitCode = await this.runtime.wait(containerId);
      audit.append('lifecycle', { event: 'stopped', exitCode });
    } finally {
      await audit.close(); // the final signed checkpoint exists before the run reads as stopped
    }
    await this.finish(id, containerId, exitCode);
  }

  private async followLogs(id: string, containerId: string, tty: boolean, after: string | undefined, audit: AuditSink): Promise<void> {
    let batch: LogRecord[] = [];
    let lastTs = after;
    let flushing = Promise.resolve();
    const flush = (): Promise<void> => {
      if (batch.length === 0) return flushing;
      const recs = batch;
      batch = [];
      const ts = lastTs;
      flushing = flushing.then(async () => {
        await this.store.appendLogs(id, recs);
        await this.store.update(id, (m) => ({ ...m, lastLogTs: ts }));
      });
      return flushing;
    };
    const timer = setInterval(() => void flush(), 100);
    try {
      await this.runtime.logs(containerId, {
        follow: true,
        tty,
        ...(after ? { since: Math.floor(Date.parse(after) / 1000) } : {}),
      }, (l: LogLine) => {
        if (after && l.ts <= after) return; // already recorded before a restart
        batch.push({ ts: l.ts, stream: l.stream, line: l.line });
        audit.append('console', { ts: l.ts, stream: l.stream, line: l.line });
        lastTs = l.ts;
        if (batch.length >= 500) void flush();
      });
    } finally {
      clearInterval(timer);
      await flush();
    }
  }

  private async finish(id: string, containerId: string, exitCode: number): Promise<void> {
    const done = await this.runtime.inspect(containerId);
    const updated = await this.store.update(id, (m) => (LIVE_STATES.has(m.state) || m.exitCode === undefined
      ? { ...m, state: 'stopped', exitCode, stoppedAt: done?.finishedAt ?? new Date().toISOString() }
      : undefined));
    if (!updated?.keep) await this.runtime.remove(containerId, true);
    this.log(`run ${id}: exited ${exitCode}`);
  }
}
