import type { Command } from '@commander-js/extra-typings';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { forErr, type CliContext } from './context.js';
import { exitLine } from './session-text.js';
import { MISSING_COMMAND_MARKER, missingCommandMessage } from '../run/missing-command.js';
import { example } from './help.js';
import { LIVE_STATES, type LogRecord } from '../store/types.js';
import { LOG_FILE, OLD_LOG_FILE, firstRecord, isMarker, readRecords } from '../store/log-file.js';
import { followFile } from '../home/follow.js';
import { jsonFor, textFor } from '../term/sanitize.js';
import { networkReport } from '../run/network-report.js';
import { wholeNumber } from './flag-values.js';
import { printJson, writeTo } from './json.js';

type Out = NodeJS.WriteStream;

/**
 * Prints entries as the run wrote them: a `cont` piece continues its line (no newline, no timestamp);
 * on a terminal the container's control sequences are neutralised, into a pipe or file (or with --raw)
 * the recorded text is written unchanged. Writes are batched and wait for the pipe to drain.
 */
class Printer {
  private readonly atStart = { stdout: true, stderr: true };
  private readonly buf = { stdout: '', stderr: '' };
  private readonly safe: Record<'stdout' | 'stderr', (s: string) => string>;
  private readonly json: ((s: string) => string) | undefined;

  /** The run's first line, when it is moat-init's "command not found", is said as moat's own message. */
  private firstLine: string | undefined;

  constructor(
    private readonly streams: { stdout: Out; stderr: Out },
    private readonly timestamps: boolean,
    raw: boolean,
    opts: { json?: boolean; missingCommand?: string | undefined } = {},
  ) {
    this.safe = { stdout: textFor(streams.stdout, raw), stderr: textFor(streams.stderr, raw) };
    this.json = opts.json ? jsonFor(streams.stdout) : undefined;
    this.firstLine = opts.missingCommand;
  }

  add(r: LogRecord): void {
    if (isMarker(r)) return;
    if (this.json) {
      // JSON lines (docs/json.md): every entry on stdout, whichever stream it came from.
      this.buf.stdout += `${this.json(JSON.stringify({ type: 'output', ts: r.ts, stream: r.stream, line: r.line, cont: r.cont === true }))}\n`;
      return;
    }
    const s = r.stream === 'stderr' ? 'stderr' : 'stdout';
    const line = this.firstLine !== undefined && !r.cont && r.line === MISSING_COMMAND_MARKER ? this.firstLine : r.line;
    this.firstLine = undefined;
    this.buf[s] += `${this.timestamps && this.atStart[s] ? `${r.ts} ` : ''}${this.safe[s](line)}${r.cont ? '' : '\n'}`;
    this.atStart[s] = !r.cont;
  }

  get pending(): number {
    return this.buf.stdout.length + this.buf.stderr.length;
  }

  async flush(): Promise<void> {
    for (const s of ['stdout', 'stderr'] as const) {
      const text = this.buf[s];
      if (!text) continue;
      this.buf[s] = '';
      await writeTo(this.streams[s], text);
    }
  }
}

/** Stream the entries of one file through the printer, flushing every megabyte or so. */
async function printFile(file: string, offset: number, p: Printer): Promise<{ offset: number; ino: number | undefined }> {
  const res = await readRecords(
    file,
    offset,
    (r) => p.add(r),
    () => (p.pending > 1024 * 1024 ? p.flush() : Promise.resolve()),
  );
  await p.flush();
  return res;
}

async function inode(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).ino;
  } catch {
    return undefined;
  }
}

/** The last `n` lines (a line being its pieces up to one without `cont`) of both files. */
async function tail(files: string[], n: number): Promise<LogRecord[]> {
  const lines: LogRecord[][] = [];
  let cur: LogRecord[] = [];
  for (const f of files) {
    await readRecords(f, 0, (r) => {
      if (isMarker(r)) return;
      cur.push(r);
      if (r.cont) return;
      lines.push(cur);
      cur = [];
      if (lines.length > n) lines.shift();
    });
  }
  if (cur.length > 0) lines.push(cur);
  return lines.slice(Math.max(0, lines.length - n)).flat();
}

export function registerLogsCommand(program: Command, ctx: CliContext): void {
  const logs = program
    .command('logs')
    .description("print a run's output (recorded in every mode)")
    .argument('[run]', 'run id, id prefix or name (default: the most recent run)')
    .option('-n, --lines <N>', 'only the last N lines', wholeNumber(0))
    .option('-f, --follow', 'keep printing new output until the run ends')
    .option('-t, --timestamps', 'prefix each line with its timestamp')
    .option('--raw', 'write the recorded output unchanged, control sequences included (also the default into a pipe or file)')
    .option('--json', 'one JSON object per line (with -f, as the run writes them)')
    .action(async (ref, o) => {
      const meta = await ctx.pickRun(ref, 'show the logs of', () => true);
      const dir = ctx.store.dir(meta.id);
      const file = join(dir, LOG_FILE);
      const old = join(dir, OLD_LOG_FILE);
      const tailing = o.lines !== undefined && Number.isFinite(o.lines);
      const { dependencyForCommand } = await import('../deps/commands.js');
      const missing = `moat: ${missingCommandMessage(meta.command[0], dependencyForCommand)}`;
      const p = new Printer({ stdout: process.stdout, stderr: process.stderr }, o.timestamps ?? false, o.raw ?? false, {
        json: o.json ?? false,
        missingCommand: tailing ? undefined : missing,
      });
      // The newest marker (at the head of logs.jsonl) tells what was dropped before logs.1.jsonl.
      const marker = await firstRecord(file);
      if (marker && isMarker(marker)) {
        if (o.json) await printJson({ type: 'dropped', ts: marker.ts, droppedBytes: marker.dropped, limitBytes: marker.limit, message: marker.line });
        else ctx.info(marker.line);
      }
      let pos: { offset: number; ino: number | undefined };
      if (tailing && o.lines !== undefined) {
        for (const r of await tail([old, file], o.lines)) p.add(r);
        await p.flush();
        pos = await readRecords(file, 0, () => undefined);
      } else {
        await printFile(old, 0, p);
        pos = await printFile(file, 0, p);
      }
      if (!o.follow) return;
      // Refused and unreachable hosts from now on, live (not over a full-screen run's output); all at the end.
      // With --json, stderr holds nothing but an error document: no network notices, no end line (the exit code says it).
      const network = o.json
        ? undefined
        : networkReport(ctx.home, meta.id, { live: !meta.interactive, stderr: process.stderr, env: ctx.env, quietHistory: true });
      let ended = false;
      let exitCode: number | undefined;
      // Follow: poll the log file until the run has ended and its last output is recorded. A rotation
      // (logs.jsonl became logs.1.jsonl) is noticed by the file's identity: finish the old one, then start over.
      let quiet = 0;
      await followFile({
        intervalMs: 100,
        read: async () => {
          const ino = await inode(file);
          let next;
          if (pos.ino !== undefined && ino !== undefined && ino !== pos.ino) {
            if ((await inode(old)) === pos.ino) await printFile(old, pos.offset, p);
            next = await printFile(file, 0, p);
          } else {
            next = await printFile(file, pos.offset, p);
          }
          const grew = next.offset !== pos.offset || next.ino !== pos.ino;
          pos = next;
          return grew;
        },
        done: async (grew) => {
          const cur = await ctx.store.read(meta.id);
          if (!cur) return true;
          const eff = await ctx.reconcile(cur);
          // The daemon records the tail right after the exit; give it a moment, then stop.
          if (LIVE_STATES.has(eff.state) || grew || !(cur.state !== eff.state ? ++quiet > 20 : ++quiet > 3)) return false;
          ended = true;
          exitCode = eff.exitCode;
          return true;
        },
      });
      await network?.stop();
      network?.summarize();
      if (!ended) return;
      // The run's end, last: its exit code is also this command's (1 when it was not recorded).
      if (!o.json) process.stderr.write(`${forErr(exitLine(meta.name, exitCode))}\n`);
      process.exitCode = exitCode ?? 1;
    });
  example(logs, ['moat logs', 'moat logs -f brave-otter', 'moat logs -n 50 -t run_1a2b3c']);
}
