import type { Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import pc from 'picocolors';
import { forOut, type CliContext } from './context.js';
import { example } from './help.js';
import { writeOut } from './json.js';
import { paged } from './pager.js';
import { jsonFor } from '../term/sanitize.js';
import type { RequestEvent } from '../gateway/events.js';
import { LIVE_STATES } from '../store/types.js';
import type { DroppedLine, TraceBudgetLine } from '../daemon/network-recorder.js';
import type { RefusalSummary } from '../daemon/refusals.js';
import { JsonlCursor, followFile } from '../home/follow.js';
import { traceStatus } from './flag-values.js';

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
  ]
    .filter(Boolean)
    .map(safe)
    .join(' ');
  const head = extra ? `${base}  ${pc.dim(extra)}` : base;
  if (!verbose) return head;
  const block = (title: string, h?: Record<string, string>, body?: string): string[] => [
    ...(h ? [`    ${pc.dim(title)}`, ...Object.entries(h).map(([k, v]) => `      ${safe(k)}: ${safe(v)}`)] : []),
    ...(body !== undefined ? [`      ${pc.dim('body:')} ${safe(body).replace(/\n/g, '\n        ')}`] : []),
  ];
  return [head, ...block('request', ev.requestHeaders, ev.requestBody), ...block('response', ev.responseHeaders, ev.responseBody)].join('\n');
}

type TraceLine = RequestEvent | RefusalSummary | DroppedLine | TraceBudgetLine;

function lineMatches(ev: TraceLine, o: { host?: string; status?: string }): boolean {
  switch (ev.type) {
    case 'request':
      return matches(ev, o);
    case 'refusals':
      return matches({ ...ev, type: 'request', blocked: true } as unknown as RequestEvent, o);
    case 'dropped':
    case 'trace-budget-reached':
      return !o.host && (!o.status || o.status === 'blocked' || /^4xx$/i.test(o.status));
    default:
      return false;
  }
}

function formatLine(ev: TraceLine, verbose: boolean): string | undefined {
  switch (ev.type) {
    case 'request':
      return format(ev, verbose);
    case 'refusals':
      return `${forOut(ev.ts.slice(11, 23))}  ${pc.red(`${ev.status} BLOCKED x${ev.count}`)}  ${forOut(ev.host)}  ${pc.dim(forOut(`reason=${JSON.stringify(ev.reason)} (${ev.count} more refusals of ${ev.host} counted, not listed, ${ev.since.slice(11, 23)}..${ev.until.slice(11, 23)})`))}`;
    case 'dropped':
      return `${ev.ts.slice(11, 23)}  ${pc.yellow(`${ev.count} requests not listed`)} (${ev.blocked} refused) ${pc.dim(`${ev.since.slice(11, 23)}..${ev.until.slice(11, 23)}: the trace budget is spent`)}`;
    case 'trace-budget-reached':
      return `${ev.ts.slice(11, 23)}  ${pc.yellow(`trace budget of ${ev.limitBytes} bytes reached`)}: later requests are counted, not listed (records.trace_max_mib in ~/.moat/config.yaml)`;
    default:
      return undefined;
  }
}

/** `moat trace [run]`: every request of a run, allowed or refused, from its network.jsonl. */
export function registerTraceCommand(program: Command, ctx: CliContext): void {
  const trace = program
    .command('trace')
    .description("list a run's network requests (every request is recorded, allowed or refused)")
    .argument('[run]', 'run id, id prefix or name (default: the most recent run)')
    .option('-f, --follow', 'keep printing new requests until the run ends')
    .option('--json', 'one JSON object per line')
    .option('--host <host>', 'only this host (and its subdomains)')
    .option('--status <status>', 'only this status: 200, 4xx, blocked', traceStatus)
    .option('-v, --verbose', 'add timings, sizes, and headers and bodies when the run used --trace-bodies')
    .option('--no-pager', 'never through a pager (on a terminal, without -f or --json, the list goes through $MOAT_PAGER, $PAGER or less)')
    .action(async (ref, o) => {
      const meta = await ctx.pickRun(ref, 'trace', () => true);
      const file = join(ctx.store.dir(meta.id), 'network.jsonl');
      const cursor = new JsonlCursor(file);
      let printed = 0;
      // Streamed from the last complete line read, never the whole file at once.
      const emit = async (): Promise<boolean> => {
        const before = cursor.offset;
        for await (const text of cursor.lines()) {
          let ev: TraceLine;
          try {
            ev = JSON.parse(text) as TraceLine;
          } catch {
            continue;
          }
          if (typeof ev !== 'object' || ev === null || !lineMatches(ev, o)) continue;
          const out = o.json ? jsonFor(process.stdout)(text) : formatLine(ev, o.verbose ?? false);
          if (out === undefined) continue;
          printed++;
          await writeOut(`${out}\n`);
        }
        return cursor.offset !== before;
      };
      if (!o.follow) {
        // A finished listing pages on a terminal as git log does; a followed one is live, never paged.
        await paged(o.pager && !o.json, async () => void (await emit()));
        if (printed === 0 && !o.json) ctx.info(`No requests recorded for run ${meta.name}.`);
        return;
      }
      await emit();
      await followFile({
        intervalMs: 200,
        read: emit,
        done: async () => {
          const cur = await ctx.store.read(meta.id);
          if (cur && LIVE_STATES.has((await ctx.reconcile(cur)).state)) return false;
          await emit();
          return true;
        },
      });
    });
  example(trace, ['moat trace', 'moat trace brave-otter --status blocked', 'moat trace -f --host api.github.com', 'moat trace --no-pager']);
}
