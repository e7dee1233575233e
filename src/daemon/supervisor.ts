import { join } from 'node:path';
import type { ContainerRuntime, LogLine } from '../runtime/types.js';
import type { RunStore } from '../run/store.js';
import { LIVE_STATES, type LogRecord, type RunMetadata } from '../run/types.js';
import type { MoatHome } from '../home/paths.js';
import { AuditSink } from './audit-sink.js';
import { setIdReport, sweepSetId } from '../run/setid-sweep.js';
import { appendNetworkLog, networkLogLine, type GatewayHost, type RunGateway } from './gateways.js';

interface Watched {
  done: Promise<void>;
}

/**
 * Owns the live runs of one moat home: their gateway (the container's only way out), the record of every
 * output line (logs.jsonl, in every mode), the audit log, the exit, and the container's removal.
 */
export class Supervisor {
  private readonly watching = new Map<string, Watched>();

  constructor(
    private readonly home: MoatHome,
    private readonly store: RunStore,
    private readonly runtime: ContainerRuntime,
    private readonly gateways: GatewayHost,
    private readonly log: (msg: string) => void,
  ) {}

  get size(): number { return this.watching.size; }
  ids(): string[] { return [...this.watching.keys()]; }

  /**
   * Take a run over: resolves once its gateway listens (so the container can be started), then follows
   * it until it ends. Throws when the gateway cannot be set up (bad grant, …).
   */
  async register(id: string): Promise<void> {
    if (this.watching.has(id)) return;
    const meta = await this.store.read(id);
    if (!meta?.containerId) throw new Error(`run ${id} has no container`);
    const audit = await AuditSink.open(this.home, meta, this.store.dir(id), this.log);
    let gateway: RunGateway;
    try {
      gateway = await this.startGateway(meta, audit);
    } catch (err) {
      audit.append('lifecycle', { event: 'gateway-failed', reason: err instanceof Error ? err.message : String(err) });
      await audit.close();
      throw err;
    }
    const done = this.follow(meta, audit, gateway)
      .catch((err: unknown) => this.log(`run ${id}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.watching.delete(id));
    this.watching.set(id, { done });
  }

  /** Re-take every live run of the store (after a daemon restart). */
  async resumeAll(): Promise<void> {
    for (const m of await this.store.list()) {
      if (LIVE_STATES.has(m.state) && m.containerId) {
        await this.register(m.id).catch((err: unknown) => this.log(`resume ${m.id}: ${String(err)}`));
      }
    }
  }

  private async startGateway(meta: RunMetadata, audit: AuditSink): Promise<RunGateway> {
    const netLog = join(this.store.dir(meta.id), 'network.jsonl');
    let pending = '';
    let writing: Promise<void> = Promise.resolve();
    const flush = (): void => {
      if (!pending) return;
      const text = pending;
      pending = '';
      writing = writing.then(() => appendNetworkLog(netLog, text)).catch((err: unknown) => this.log(`network log ${meta.id}: ${String(err)}`));
    };
    const gw = await this.gateways.start(meta, this.store.dir(meta.id), (ev, redact) => {
      const line = networkLogLine(ev, redact);
      if (line) {
        pending += line;
        setImmediate(flush);
        audit.append('network', JSON.parse(line) as Record<string, string | number | boolean>);
        if (ev.type === 'request' && ev.grant) {
          // A locally answered call (a token refresh) used no credential; it is recorded as network only.
          if (!ev.local) audit.append('credential', { grant: ev.grant, host: ev.host });
        }
        if (ev.type === 'request' && ev.blocked) audit.append('policy', { decision: 'deny', host: ev.host, reason: redact(ev.reason ?? '') });
      }
    });
    return { ...gw, close: async () => { flush(); await writing; await gw.close(); } };
  }

  private async follow(meta: RunMetadata, audit: AuditSink, gateway: RunGateway): Promise<void> {
    const id = meta.id;
    const containerId = meta.containerId as string;
    let exitCode: number | undefined;
    try {
      const info = await this.waitStarted(containerId);
      if (!info) {
        await this.store.update(id, (m) => (LIVE_STATES.has(m.state) ? { ...m, state: 'failed', reason: 'its container is gone' } : undefined));
        return;
      }
      await this.followLogs(id, containerId, info.tty, meta.lastLogTs, audit);
      exitCode = await this.runtime.wait(containerId);
      audit.append('lifecycle', { event: 'stopped', exitCode });
      await this.sweepSetId(meta, audit);
    } finally {
      await gateway.close();
      await audit.close(); // the final signed checkpoint exists before the run reads as stopped
    }
    await this.finish(id, containerId, exitCode);
  }

  /** No set-id file stays in what the run could write: stripped, audited, and recorded for the CLI. */
  private async sweepSetId(meta: RunMetadata, audit: AuditSink): Promise<void> {
    const sweep = await sweepSetId(meta.writable ?? [meta.workspace]).catch((err: unknown) => {
      this.log(`run ${meta.id}: set-id sweep failed: ${String(err)}`);
      return { stripped: [], remaining: [], truncated: false };
    });
    if (sweep.stripped.length > 0 || sweep.remaining.length > 0 || sweep.truncated) {
      audit.append('lifecycle', { event: 'set-id-files', stripped: sweep.stripped, remaining: sweep.remaining, truncated: sweep.truncated });
      this.log(`run ${meta.id}: ${setIdReport(sweep) ?? ''}`);
    }
    await this.store.update(meta.id, (m) => ({ ...m, setIdSweep: sweep }));
  }

  /** The CLI registers a run before starting it; follow its logs once it has started. */
  private async waitStarted(containerId: string) {
    for (let i = 0; ; i++) {
      const info = await this.runtime.inspect(containerId);
      if (!info || info.status !== 'created') return info;
      await new Promise((r) => setTimeout(r, Math.min(200, 10 + i * 10)));
    }
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
    const recordAfter = (floor: string | undefined) => (l: LogLine): void => {
      if (floor && l.ts <= floor) return; // already recorded (before a restart, or by the follow)
      batch.push({ ts: l.ts, stream: l.stream, line: l.line });
      audit.append('console', { ts: l.ts, stream: l.stream, line: l.line });
      lastTs = l.ts;
      if (batch.length >= 500) void flush();
    };
    const since = (ts: string | undefined) => (ts ? { since: Math.floor(Date.parse(ts) / 1000) } : {});
    try {
      await this.runtime.logs(containerId, { follow: true, tty, ...since(after) }, recordAfter(after));
      // A live follow can end at the exit before the engine hands over a last, unterminated line: read
      // what it holds once more and keep only what is newer.
      await this.runtime.logs(containerId, { follow: false, tty, ...since(lastTs) }, recordAfter(lastTs)).catch(() => undefined);
    } finally {
      clearInterval(timer);
      await flush();
    }
  }

  private async finish(id: string, containerId: string, exitCode: number | undefined): Promise<void> {
    const done = await this.runtime.inspect(containerId);
    const code = exitCode ?? done?.exitCode ?? -1;
    const updated = await this.store.update(id, (m) => (LIVE_STATES.has(m.state) || m.exitCode === undefined
      ? { ...m, state: 'stopped', exitCode: code, stoppedAt: done?.finishedAt ?? new Date().toISOString() }
      : undefined));
    if (!updated?.keep) await this.runtime.remove(containerId, true);
    this.log(`run ${id}: exited ${code}`);
  }
}
