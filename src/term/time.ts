/**
 * One way to say when something happened (or will): "just now", "3 min ago", "2 h ago", "yesterday",
 * "5 days ago", "3 weeks ago", "4 months ago", "2 years ago"; ahead of now, "in 3 min" … "tomorrow".
 * Every listing uses it, so a person reads the same words everywhere.
 */
const MIN = 60;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;

function span(s: number): string {
  if (s < HOUR) return `${Math.floor(s / MIN)} min`;
  if (s < DAY) return `${Math.floor(s / HOUR)} h`;
  if (s < 14 * DAY) return plural(Math.floor(s / DAY), 'day');
  if (s < 60 * DAY) return plural(Math.floor(s / (7 * DAY)), 'week');
  if (s < 365 * DAY) return plural(Math.floor(s / (30 * DAY)), 'month');
  return plural(Math.floor(s / (365 * DAY)), 'year');
}

/** `when` relative to `now`; '-' when there is no (valid) time. */
export function relativeTime(when: string | number | Date | undefined, now: number | Date = Date.now()): string {
  if (when === undefined) return '-';
  const t = when instanceof Date ? when.getTime() : typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t)) return '-';
  const diff = Math.round(((now instanceof Date ? now.getTime() : now) - t) / 1000);
  const s = Math.abs(diff);
  if (s < 10) return 'just now';
  if (s < MIN) return diff > 0 ? `${s} s ago` : `in ${s} s`;
  if (s >= DAY && s < 2 * DAY) return diff > 0 ? 'yesterday' : 'tomorrow';
  return diff > 0 ? `${span(s)} ago` : `in ${span(s)}`;
}
