import type { MoatHome } from '../home/paths.js';
import { AuditWriter, loadOrCreateSigner, type AuditSigner, type ResumedLog } from '../audit/index.js';
import type { RunMetadata } from '../run/types.js';

type AuditType = Parameters<AuditWriter['append']>[0];
type AuditData = Parameters<AuditWriter['append']>[1];

/**
 * The daemon is the single writer of each live run's audit log: lifecycle, console lines, and (with the
 * gateway) network events. A run whose log cannot be opened still runs; the failure goes to the daemon log.
 */
export class AuditSink {
  private constructor(private readonly writer: AuditWriter | undefined) {}

  private static signer: Promise<AuditSigner> | undefined;

  static async open(home: MoatHome, meta: RunMetadata, runDir: string, log: (m: string) => void, opts: { lockWaitMs?: number } = {}): Promise<AuditSink> {
    try {
      AuditSink.signer ??= loadOrCreateSigner(home);
      const writer = await AuditWriter.open(runDir, await AuditSink.signer, {
        runId: meta.id,
        onError: (err: unknown) => log(`audit ${meta.id}: ${String(err)}`),
        ...opts,
      });
      const sink = new AuditSink(writer);
      if (writer.count === 0) {
        sink.append('lifecycle', { event: 'created', name: meta.name, workspace: meta.workspace, command: meta.command, createdAt: meta.createdAt });
        sink.append('lifecycle', { event: 'image', image: meta.image });
        sink.append('lifecycle', { event: 'started', startedAt: meta.startedAt ?? new Date().toISOString() });
      }
      return sink;
    } catch (err) {
      log(`audit ${meta.id}: cannot open the audit log: ${err instanceof Error ? err.message : String(err)}`);
      return new AuditSink(undefined);
    }
  }

  /** What the writer found when it took over an existing log (a restart, a hand-over, a dead daemon's log). */
  get resumed(): ResumedLog | undefined {
    return this.writer?.resumed;
  }

  append(type: AuditType, data: AuditData): void {
    this.writer?.append(type, data);
  }

  async close(): Promise<void> {
    await this.writer?.close();
  }
}
