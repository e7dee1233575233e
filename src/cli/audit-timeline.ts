/**
 * `moat audit --events` as a timeline: one line per entry, `SEQ  TIME  TYPE  summary`, with a date line
 * whenever the day changes. The summary is one line of what happened, read from the entry's data (a run
 * chose much of it: the caller neutralises it for a terminal). `--json` gives the raw entries instead.
 */
import type { AuditEntry, JsonObject, JsonValue } from '../audit/index.js';

const MAX_SUMMARY = 160;

const str = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));
const num = (v: JsonValue | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

/** The entry's other fields as `key=value`, for events this module does not know by name. */
function rest(d: JsonObject, skip: readonly string[]): string {
  return Object.entries(d)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => `${k}=${str(v)}`)
    .join(' ');
}

function joined(...parts: string[]): string {
  return parts.filter((p) => p.length > 0).join(' ');
}

function lifecycle(d: JsonObject): string {
  const event = str(d.event);
  switch (event) {
    case 'created': {
      const cmd = Array.isArray(d.command) ? d.command.map(str).join(' ') : str(d.command);
      return `created ${str(d.name)} in ${str(d.workspace)}: ${cmd}`;
    }
    case 'image':
      return `image ${str(d.image)}`;
    case 'started':
      return 'started';
    case 'stopped':
      return `stopped, exit code ${num(d.exitCode) ?? 'unknown'}`;
    case 'gateway-failed':
      return `the gateway failed: ${str(d.reason)}`;
    case 'output-limit':
      return `output passed its limit (${num(d.limit) ?? '?'} bytes): later output is not in the audit log`;
    case 'audit-budget-reached':
      return `audit budget of ${num(d.limitBytes) ?? '?'} bytes reached: later entries are counted, not kept`;
    case 'trace-budget-reached':
      return `trace budget of ${num(d.limitBytes) ?? '?'} bytes reached: later requests are counted, not listed`;
    case 'set-id-files':
      return `set-id files: ${num(d.strippedCount) ?? 0} stripped, ${num(d.remainingCount) ?? 0} remaining`;
    default:
      return joined(event || 'event', rest(d, ['event']));
  }
}

function console_(d: JsonObject): string {
  return `${str(d.stream) || 'stdout'}: ${str(d.line)}${d.cont === true ? ' …' : ''}`;
}

function network(d: JsonObject): string {
  switch (str(d.type)) {
    case 'request': {
      const status = d.blocked === true ? `${str(d.status)} BLOCKED` : str(d.status);
      return joined(
        str(d.method),
        status,
        str(d.url),
        d.grant ? `grant=${str(d.grant)}` : '',
        d.reason ? `reason: ${str(d.reason)}` : '',
        d.error ? `error=${str(d.error)}` : '',
      );
    }
    case 'refusals':
      return `${num(d.count) ?? '?'} more refusals of ${str(d.host)}: ${str(d.reason)}`;
    case 'dropped':
      return `${num(d.count) ?? '?'} requests not listed (${num(d.blocked) ?? 0} refused): the trace budget is spent`;
    case 'trace-budget-reached':
      return `trace budget of ${num(d.limitBytes) ?? '?'} bytes reached`;
    default:
      return rest(d, []);
  }
}

/** One line saying what the entry records. */
export function summarizeEntry(e: AuditEntry): string {
  const d = e.data;
  const text =
    e.type === 'lifecycle'
      ? lifecycle(d)
      : e.type === 'console'
        ? console_(d)
        : e.type === 'network'
          ? network(d)
          : e.type === 'credential'
            ? `grant ${str(d.grant)} used for ${str(d.host)}`
            : rest(d, []);
  const line = text.replace(/\r?\n/g, '⏎');
  return line.length > MAX_SUMMARY ? `${line.slice(0, MAX_SUMMARY - 1)}…` : line;
}

/**
 * Lines of the timeline for entries in order: a `── DATE` line when the day changes, then
 * `SEQ  HH:MM:SS.mmm  TYPE        summary`. `safe` neutralises text a run chose.
 */
export class Timeline {
  private day = '';

  constructor(private readonly safe: (s: string) => string) {}

  line(e: AuditEntry): string {
    const day = e.ts.slice(0, 10);
    const head = day !== this.day ? `── ${this.safe(day)} (UTC)\n` : '';
    this.day = day;
    return `${head}${String(e.seq).padStart(6)}  ${this.safe(e.ts.slice(11, 23).padEnd(12))}  ${e.type.padEnd(10)}  ${this.safe(summarizeEntry(e))}\n`;
  }
}
