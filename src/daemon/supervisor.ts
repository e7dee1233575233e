import { lstat, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRuntime, LogLine } from '../runtime/types.js';
import type { RunStore } from '../store/store.js';
import { LIVE_STATES, type LogRecord, type RunMetadata } from '../store/types.js';
import type { MoatHome } from '../home/paths.js';
import { ENTRIES_FILE, type ResumedLog } from '../audit/index.js';
import { AuditSink } from './audit-sink.js';
import { setIdReport, sweepSetId } from './setid-sweep.js';
import type { GatewayHost, RunGateway } from './gateways.js';
import { NetworkRecorder } from './network-recorder.js';
import { RECORD_LIMITS, capText, recordBudgets } from './record-limits.js';
import { after, auditConsoleFloor, auditOutputLimitReached, logsFloor, repairLogsTail, type Floor } from './resume-point.js';
import { DeferredAudit, auditLeftOpen, recoveredEntry, type AuditLike } from './recovery.js';
import { OutputBudget } from './output-budget.js';
import { DEFAULT_LOG_LIMIT, LOG_FILE, LogWriter, OLD_LOG_FILE } from '../store/log-file.js';
import { BUILD_NETWORK_FILE } from '../image/build-trace.js';
import { removeRunSecrets } from '../credentials/secrets/run-file.js';
import { readRunSnapshots } from '../snapshot/refs.js';
import { auditPendingSnapshots, auditPreSnapshot, takePostSnapshot } from './snapshots.js';

/** Bytes an audit entry adds around a console line (hashes, seq, timestamps): counted against the limit. */
const AUDIT_ENTRY_OVERHEAD = 300;

interface Watched {
  done: Promise<void>;
  gateway: RunGateway;
  /** Hand-over: stop recording (what is recorded is where the next daemon resumes) and let the run go. */
  release: () => void;
  audit: AuditSink;
}

/** Where each sink resumes (see resume-point.ts). */
interface Floors {
  logs: Floor | undefined;
  audit: Floor | undefined;
}

/**
 * Owns the live runs of one moat home: their gateway (the container's only way out), the record of every
 * output line (logs.jsonl, in every mode), the audit log, the exit, and the container's removal.
 */
export class Supervisor {
  private readonly watching = new Map<string, Watched>();
  private readonly registering = new Map<string, Promise<void>>();
  /** Called once a run this daemon followed to its end is done (its container removed): spares.ts. */
  ended?: (id: string) => void;

  constructor(
    private readonly home: MoatHome,
    private readonly store: RunStore,
    private readonly runtime: ContainerRuntime,
    private readonly gateways: GatewayHost,
    private readonly log: (msg: string) => void,
  ) {}

  /** Audit the snapshots recorded on a live run from outside (moat snapshot); false when the run is not followed here. */
  async auditSnapshots(id: string): Promise<boolean> {
    const w = this.watching.get(id);
    if (!w) return false;
    const r = await readRunSnapshots(this.home, id);
    const pending = r?.records.filter((x) => (x.kind === 'manual' || x.kind === 'safety') && !x.audited).length ?? 0;
    return (await auditPendingSnapshots(this.home, id, w.audit)) === pending;
  }

  get size(): number {
    return this.watching.size;
  }
  ids(): string[] {
    return [...this.watching.keys()];
  }

  /**
   * Take a run over: resolves once its gateway listens (so the container can be started), then follows
   * it until it ends. Throws when the gateway cannot be set up (bad grant, …).
   */
  register(id: string): Promise<void> {
    if (this.watching.has(id)) return Promise.resolve();
    const pending = this.registering.get(id) ?? this.take(id).finally(() => this.registering.delete(id));
    this.registering.set(id, pending);
    return pending;
  }

  private async take(id: string): Promise<void> {
    const meta = await this.store.read(id);
    if (!meta?.containerId) throw new Error(`run ${id} has no container`);
    // The gateway first: on a hand-over the previous daemon keeps the run's audit log (and serves the run)
    // until this gateway's socket has replaced its own; gateway events wait in memory for the log meanwhile.
    const limits = await recordBudgets(this.home);
    const deferred = new DeferredAudit();
    let gateway: RunGateway;
    try {
      gateway = await this.startGateway(meta, deferred, limits.traceBytes);
    } catch (err) {
      const audit = await AuditSink.open(this.home, meta, this.store.dir(id), this.log);
      audit.append('lifecycle', { event: 'gateway-failed', reason: err instanceof Error ? err.message : String(err) });
      await audit.close();
      throw err;
    }
    const audit = await AuditSink.open(this.home, meta, this.store.dir(id), this.log, { lockWaitMs: 30_000, budgetBytes: limits.auditBytes });
    deferred.attach(audit);
    // Resolved by the CLI before the run was created: recorded once, when the run is first taken.
    if (meta.state === 'created')
      for (const s of gateway.secrets)
        audit.append('secret', { event: 'resolved', name: s.name, scheme: s.scheme, hosts: s.hosts, ...(s.exposed ? { exposed: true } : {}) });
    if (!audit.resumed) await auditPreSnapshot(this.home, id, audit).catch(() => undefined);
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const done = this.follow(meta, audit, gateway, released)
      .catch((err: unknown) => this.log(`run ${id}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.watching.delete(id));
    this.watching.set(id, { done, gateway, release, audit });
  }

  /**
   * Re-take every live run of the store (after a daemon restart), and close the audit log of every ended
   * run that a dead daemon left open (with a recovery entry that says what is missing).
   */
  async resumeAll(): Promise<void> {
    for (const m of await this.store.list()) {
      if (LIVE_STATES.has(m.state) && m.containerId) {
        await this.register(m.id).catch((err: unknown) => this.log(`resume ${m.id}: ${String(err)}`));
      } else {
        await this.closeLeftOpen(m).catch((err: unknown) => this.log(`close ${m.id}: ${String(err)}`));
      }
    }
  }

  /**
   * `moat proxy restart`: once the next daemon's gateway socket has replaced a run's own (or after
   * `timeoutMs`), stop serving and recording that run; the next daemon resumes from what was recorded.
   */
  async handOver(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(
      [...this.watching.values()].map(async (w) => {
        let ended = false;
        void w.done.then(() => {
          ended = true;
        });
        while (!ended && Date.now() < deadline && (await w.gateway.owned())) await sleep(25);
        w.release();
        await w.done;
      }),
    );
  }

  private async closeLeftOpen(m: RunMetadata): Promise<void> {
    const dir = this.store.dir(m.id);
    if (!(await auditLeftOpen(dir))) return;
    const audit = await AuditSink.open(this.home, m, dir, this.log);
    const r = audit.resumed;
    if (r && !r.closed) {
      const floor = await auditConsoleFloor(join(dir, ENTRIES_FILE));
      audit.append(
        'lifecycle',
        recoveredEntry(
          r,
          `console output after ${floor?.ts ?? 'the start'} and the end of the run (its exit code): the run ended (${m.state}) while no daemon kept its log`,
        ),
      );
    }
    await audit.close();
  }

  private async startGateway(meta: RunMetadata, audit: AuditLike, budgetBytes: number): Promise<RunGateway> {
    const net = await NetworkRecorder.open({
      file: join(this.store.dir(meta.id), 'network.jsonl'),
      audit,
      budgetBytes,
      log: (m) => this.log(`run ${meta.id}: ${m}`),
    });
    let gw: RunGateway;
    try {
      await this.takeBuildRequests(meta, net);
      gw = await this.gateways.start(meta, this.store.dir(meta.id), (ev, redact) => net.record(ev, redact));
    } catch (err) {
      await net.close();
      throw err;
    }
    return {
      ...gw,
      close: async () => {
        await gw.close();
        await net.close();
      },
    };
  }

  /** The requests of the build that made this run's image, recorded once (the file is renamed after). */
  private async takeBuildRequests(meta: RunMetadata, net: NetworkRecorder): Promise<void> {
    const file = join(this.store.dir(meta.id), BUILD_NETWORK_FILE);
    try {
      if (!(await lstat(file)).isFile()) return;
    } catch {
      return;
    }
    const n = await net.recordBuild(file).catch((err: unknown) => {
      this.log(`run ${meta.id}: build requests not recorded: ${String(err)}`);
      return 0;
    });
    await rename(file, `${file}.recorded`).catch(() => undefined);
    if (n > 0) this.log(`run ${meta.id}: recorded ${n} build request(s)`);
  }

  private async follow(meta: RunMetadata, audit: AuditSink, gateway: RunGateway, released: Promise<void>): Promise<void> {
    const id = meta.id;
    const containerId = meta.containerId as string;
    const died = audit.resumed && !audit.resumed.closed ? audit.resumed : undefined;
    let exitCode: number | undefined;
    try {
      const info = await this.waitStarted(containerId);
      if (!info) {
        if (died)
          audit.append(
            'lifecycle',
            recoveredEntry(
              died,
              `console output after ${died.lastTs ?? 'the start'} and the exit code: the container was removed before a daemon could read them`,
            ),
          );
        await this.store.update(id, (m) => (LIVE_STATES.has(m.state) ? { ...m, state: 'failed', reason: 'its container is gone' } : undefined));
        await removeRunSecrets(this.home, id).catch(() => undefined);
        return;
      }
      const dir = this.store.dir(id);
      await repairLogsTail(join(dir, LOG_FILE));
      const floors: Floors = {
        logs: await logsFloor(join(dir, LOG_FILE), join(dir, OLD_LOG_FILE)),
        audit: await auditConsoleFloor(join(this.store.dir(id), ENTRIES_FILE)),
      };
      if (died) audit.append('lifecycle', resumedFromEngine(died, floors));
      if ((await this.followLogs(meta, containerId, info.tty, floors, audit, released)) === 'released') return;
      exitCode = await this.runtime.wait(containerId);
      audit.append('lifecycle', { event: 'stopped', exitCode });
      await this.sweepSetId(meta, audit);
      await takePostSnapshot(this.home, meta, audit, this.log);
    } finally {
      await gateway.close();
      await audit.close(); // the final signed checkpoint exists before the run reads as stopped
    }
    await this.finish(id, containerId, exitCode);
    this.ended?.(id);
  }

  /** No set-id file stays in what the run could write: stripped, audited, and recorded for the CLI. */
  private async sweepSetId(meta: RunMetadata, audit: AuditSink): Promise<void> {
    const sweep = await sweepSetId(meta.writable ?? [meta.workspace]).catch((err: unknown) => {
      this.log(`run ${meta.id}: set-id sweep failed: ${String(err)}`);
      return { stripped: [], remaining: [], truncated: false };
    });
    if (sweep.stripped.length > 0 || sweep.remaining.length > 0 || sweep.truncated) {
      // A run chooses how many such files it leaves: the entry names the first 100 of each and counts them all.
      audit.append('lifecycle', {
        event: 'set-id-files',
        stripped: sweep.stripped.slice(0, 100),
        strippedCount: sweep.stripped.length,
        remaining: sweep.remaining.slice(0, 100),
        remainingCount: sweep.remaining.length,
        truncated: sweep.truncated,
      });
      this.log(`run ${meta.id}: ${setIdReport(sweep) ?? ''}`);
    }
    // metadata.json stays small whatever the run left: the report names the first files (and says when truncated).
    const kept = {
      ...sweep,
      stripped: sweep.stripped.slice(0, 100),
      remaining: sweep.remaining.slice(0, 100),
      truncated: sweep.truncated || sweep.stripped.length > 100 || sweep.remaining.length > 100,
    };
    await this.store.update(meta.id, (m) => ({ ...m, setIdSweep: kept }));
  }

  /** The CLI registers a run before starting it; follow its logs once it has started. */
  private async waitStarted(containerId: string) {
    for (let i = 0; ; i++) {
      const info = await this.runtime.inspect(containerId);
      if (!info || info.status !== 'created') return info;
      await sleep(Math.min(200, 10 + i * 10));
    }
  }

  private async followLogs(
    meta: RunMetadata,
    containerId: string,
    tty: boolean,
    floors: Floors,
    audit: AuditSink,
    released: Promise<void>,
  ): Promise<'ended' | 'released'> {
    const id = meta.id;
    const writer = await LogWriter.open(this.store.dir(id), meta.logLimit ?? DEFAULT_LOG_LIMIT);
    // A daemon that takes a run over goes on from what the audit log already holds: its size counts against
    // the limit, and an `output-limit` entry already there means no console line is recorded after it.
    const auditFile = join(this.store.dir(id), ENTRIES_FILE);
    const auditBytes = (await stat(auditFile).catch(() => undefined))?.size ?? 0;
    const budget = new OutputBudget(writer.limit, writer.dropping || (await auditOutputLimitReached(auditFile)), auditBytes);
    let batch: LogRecord[] = [];
    let batchChars = 0;
    let lastTs: string | undefined;
    let stopped = false;
    let flushing = Promise.resolve();
    const flush = (): Promise<void> => {
      if (batch.length === 0) return flushing;
      const recs = batch;
      batch = [];
      batchChars = 0;
      const ts = lastTs;
      // A failed write (a full disk) is logged; the chain stays usable and never rejects unhandled.
      flushing = flushing
        .then(async () => {
          await writer.append(recs);
          await this.store.update(id, (m) => ({ ...m, lastLogTs: ts }));
        })
        .catch((err: unknown) => this.log(`run ${id}: recording output failed: ${err instanceof Error ? err.message : String(err)}`));
      return flushing;
    };
    const timer = setInterval(() => void flush(), 100);
    let seen: Floor = { ts: '', n: 0 };
    // Each sink keeps only what it does not hold yet (a restarted daemon resumes each from its own floor).
    const record =
      (toLogs: (ts: string) => boolean, toAudit: (ts: string) => boolean) =>
      (l: LogLine): Promise<void> | undefined => {
        if (stopped) return undefined; // handed over: the next daemon records from here
        const rec: LogRecord = l.cont ? { ts: l.ts, stream: l.stream, line: l.line, cont: true } : { ts: l.ts, stream: l.stream, line: l.line };
        if (toLogs(l.ts)) {
          batch.push(rec);
          batchChars += l.line.length;
        }
        // The audit log is append-only: it holds the output up to the limit, then one event saying so.
        if (toAudit(l.ts)) {
          // Counted as stored: the capped line, in UTF-8 bytes as JSON escapes it.
          const line = capText(l.line, RECORD_LIMITS.consoleLine);
          switch (budget.take(Buffer.byteLength(JSON.stringify(line)) + AUDIT_ENTRY_OVERHEAD)) {
            case 'record':
              audit.append('console', { ...rec, line, ...(l.line.length > RECORD_LIMITS.consoleLine ? { lineLen: l.line.length } : {}) });
              break;
            case 'reached':
              audit.append('lifecycle', {
                event: 'output-limit',
                limit: writer.limit,
                note: 'later output is not in the audit log; logs.jsonl keeps the newest part',
              });
              break;
            case 'over':
              break;
          }
        }
        seen = lastTs === l.ts ? { ts: l.ts, n: seen.n + 1 } : { ts: l.ts, n: 1 };
        lastTs = l.ts;
        // A busy disk pauses the engine's stream (backpressure) instead of queueing output in memory.
        if (batch.length >= 500 || batchChars >= 4 * 1024 * 1024) return flush();
        return undefined;
      };
    const oldest = [floors.logs?.ts, floors.audit?.ts].some((t) => t === undefined) ? undefined : [floors.logs!.ts, floors.audit!.ts].sort()[0];
    const since = (ts: string | undefined) => (ts ? { since: Math.floor(Date.parse(ts) / 1000) } : {});
    try {
      const following = this.runtime.logs(containerId, { follow: true, tty, ...since(oldest) }, record(after(floors.logs), after(floors.audit)));
      const how = await Promise.race([following.then(() => 'ended' as const), released.then(() => 'released' as const)]);
      if (how === 'released') {
        stopped = true;
        return how;
      }
      // A live follow can end at the exit before the engine hands over a last, unterminated line: read
      // what it holds once more and keep only what is newer.
      await this.runtime
        .logs(containerId, { follow: false, tty, ...since(lastTs ?? oldest) }, record(after(higher(floors.logs, seen)), after(higher(floors.audit, seen))))
        .catch(() => undefined);
      return how;
    } finally {
      clearInterval(timer);
      await flush();
    }
  }

  private async finish(id: string, containerId: string, exitCode: number | undefined): Promise<void> {
    await removeRunSecrets(this.home, id).catch(() => undefined);
    const done = await this.runtime.inspect(containerId);
    const code = exitCode ?? done?.exitCode ?? -1;
    const updated = await this.store.update(id, (m) =>
      LIVE_STATES.has(m.state) || m.exitCode === undefined
        ? { ...m, state: 'stopped', exitCode: code, stoppedAt: done?.finishedAt ?? new Date().toISOString() }
        : undefined,
    );
    if (!updated?.keep) await this.runtime.remove(containerId, true);
    this.log(`run ${id}: exited ${code}`);
  }
}

/** The later of two floors (what a sink held before, and what this follow has seen since). */
function higher(a: Floor | undefined, b: Floor): Floor | undefined {
  if (b.n === 0) return a;
  if (!a || b.ts > a.ts) return b;
  return b.ts === a.ts ? { ts: a.ts, n: Math.max(a.n, b.n) } : a;
}

/** The recovery entry of a live run whose daemon died: its output is read back from the engine. */
function resumedFromEngine(died: ResumedLog, floors: Floors): ReturnType<typeof recoveredEntry> {
  const from = floors.audit?.ts ?? 'the start';
  return recoveredEntry(
    died,
    `nothing: console output after ${from} was read back from the engine's log of the container; requests the container made while no daemon ran failed (nothing served them)`,
  );
}
