import type { Command } from '@commander-js/extra-typings';
import { open } from 'node:fs/promises';
import type { CliContext } from './context.js';
import { LIVE_STATES, type LogRecord } from '../run/types.js';
import { errnoCode } from '../errors.js';

async function readFrom(file: string, offset: number): Promise<{ text: string; offset: number }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { text: '', offset };
    throw err;
  }
  try {
    const { size } = await fh.stat();
    if (size <= offset) return { text: '', offset };
    const buf = Buffer.alloc(size - offset);
    await fh.read(buf, 0, buf.length, offset);
    const text = buf.toString('utf8');
    const last = text.lastIndexOf('\n');
    return { text: text.slice(0, last + 1), offset: offset + Buffer.byteLength(text.slice(0, last + 1)) };
  } finally {
    await fh.close();
  }
}

function emit(text: string, timestamps: boolean): void {
  for (const l of text.split('\n')) {
    if (!l) continue;
    let r: LogRecord;
    try { r = JSON.parse(l) as LogRecord; } catch { continue; }
    const out = `${timestamps ? `${r.ts} ` : ''}${r.line}\n`;
    (r.stream === 'stderr' ? process.stderr : process.stdout).write(out);
  }
}

export function registerLogsCommand(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description("print a run's output (recorded in every mode)")
    .argument('[run]', 'run id, id prefix or name (default: the most recent run)')
    .option('-n, --lines <N>', 'only the last N lines', (v) => Number.parseInt(v, 10))
    .option('-f, --follow', 'keep printing new output until the run ends')
    .option('-t, --timestamps', 'prefix each line with its timestamp')
    .action(async (ref, o) => {
      const meta = await ctx.pickRun(ref, 'show the logs of', () => true);
      const file = ctx.store.logsFile(meta.id);
      let { text, offset } = await readFrom(file, 0);
      if (o.lines !== undefined && Number.isFinite(o.lines)) {
        const lines = text.split('\n').filter(Boolean);
        text = lines.slice(Math.max(0, lines.length - o.lines)).map((l) => `${l}\n`).join('');
      }
      emit(text, o.timestamps ?? false);
      if (!o.follow) return;
      // Follow: poll the log file until the run has ended and its last output is recorded.
      for (let quiet = 0; ;) {
        await new Promise((r) => setTimeout(r, 100));
        const next = await readFrom(file, offset);
        offset = next.offset;
        emit(next.text, o.timestamps ?? false);
        const cur = await ctx.store.read(meta.id);
        if (!cur) return;
        const eff = await ctx.reconcile(cur);
        if (!LIVE_STATES.has(eff.state)) {
          // The daemon records the tail right after the exit; give it a moment, then stop.
          if (next.text === '' && (cur.state !== eff.state ? ++quiet > 20 : ++quiet > 3)) return;
        }
      }
    });
}
