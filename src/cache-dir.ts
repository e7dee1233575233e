/**
 * moat's folder of compiled-code caches (src/code-cache.ts: bin/moat, the daemon's entry): `$XDG_CACHE_HOME/moat`, else
 * `~/.cache/moat`. What it holds runs as the user at the next start, so a run must never write it
 * (src/run/sensitive-workspace.ts hides it like moat's home).
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

export function moatCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.cache'), 'moat');
}
