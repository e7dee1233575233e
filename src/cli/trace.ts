import type { Command } from '@commander-js/extra-typings';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pc from 'picocolors';
import { forOut, type CliContext } from './context.js';
import { jsonFor } from '../term/sanitize.js';
import type { RequestEvent } from '../gateway/events.js';
import { LIVE_STATES } from '../run/types.js';
import { errnoCode } from '../errors.js';

function matches(ev: RequestEvent, o: { host?: string; status?: string }): boolean {
  if (o.host && !(ev.host === o.host || ev.host.endsWith(`.${o.host}`))) return false;
  if (o.status) {
    const s = o.status;
    if (/^\dxx$/i.test(s)) return Math.floor(ev.status / 100) === Number(s[0]);
    if (s === 'blocked') return ev.blocked === true;
    return String(ev.status) === s;
  }
  return true;
}

function format(ev: RequestEvent, verbose: boolean): string {
  const safe = forOut;
  const status = ev.blocked ? pc.red(`${ev.status} BLOCKED`) : ev.status >= 400 || ev.status === 0 ? pc.yellow(String(ev.status)) : pc.green(String(ev.status));
  const base = `${safe(ev.ts.slice(11, 23))}  ${safe(ev.method.padEnd(7))} ${status}  ${safe(ev.url)}  ${pc.dim(`${ev.durationMs.toFixed(1)}ms`)}`;
  const extra = [
    ev.grant ? `grant=${ev.grant}` : '',
    ev.reason ? `reason=${JSON.stringify(ev.reason)}` : '',
    ev.error ? `error=${ev.error}` : '',
    verbose ? `ttfb=${ev.ttfbMs}ms up=${ev.bytesUp}B down=${ev.bytesDown}B${ev.upgrade ? ` upgrade=${ev.upgrade}` : ''}` : '',
  ].filter(Boolean).map(safe).join(' ');
  const head = extra ? `${base}  ${pc.dim(extra)}` : base;
  if (!verbose) return head;
  const block = (title: string, h?: Record<string, string>, body?: string): string[] => [
    ...(h ? [`    ${pc.dim(title)}`, ...Object.entries(h).map(([k, v]) => `      ${safe(k)}: ${safe(v)}`)] : []),
    ...(body !== undefined ? [`      ${pc.dim('body:')} ${safe(body).replace(/\n/g, '\n        ')}`] : []),
  ];
  return [head, ...block('request', ev.requestHeaders, ev.requestBody), ...block('response', ev.responseHeaders, ev.responseBody)].join('\n');
}

/** `moat trace [run] --network`: every request of a run, allowed or refused, from its network.jsonl. */
export function registerTraceCommand(program: Command, ctx: CliContext): void {
  program
    .command('trace')
    .description("list a run's network requests (every request is recorded, allowed or refused)")
    .argument('[run]', 'run id, id prefix or name (default: the most recent run)')
    .option('--network', 'network requests (the default and, for now, only trace)')
    .option('-f, --follow', 'keep printing new requests until the run ends')
    .option('--json', 'one JSON object per line')
    .option('--host <host>', 'only this host (and its subdomains)')
    .option('--status <status>', 'only this status: 200, 4xx, blocked')
    .option('-v, --verbose', 'add timings, sizes, and headers and bodies when the run used --trace-bodies')
    .action(async (ref, o) => {
      const meta = await ctx.pickRun(ref, 'trace', () => true);
      const file = join(ctx.store.dir(meta.id), 'network.jsonl');
      let seen = 0;
      const emit = async (): Promise<void> => {
        let text = '';
        try { text = await readFile(file, 'utf8'); } catch (err) { if (errnoCode(err) !== 'ENOENT') throw err; }
        const lines = text.split('\n').filter(Boolean);
        for (const l of lines.slice(seen)) {
          let ev: RequestEvent;
          try { ev = JSON.parse(l) as RequestEvent; } catch { continue; }
          if (!matches(ev, o)) continue;
          process.stdout.write(o.json ? `${jsonFor(process.stdout)(l)}\n` : `${format(ev, o.verbose ?? false)}\n`);
        }
        seen = lines.length;
      };
      await emit();
      if (!o.follow) {
        if (seen === 0 && !o.json) ctx.info(`No requests recorded for run ${meta.name}.`);
        return;
      }
      for (;;) {
        await new Promise((r) => setTimeout(r, 200));
        await emit();
        const cur = await ctx.store.read(meta.id);
        if (!cur || !LIVE_STATES.has((await ctx.reconcile(cur)).state)) {
          await emit();
          return;
        }
      }
    });
}
