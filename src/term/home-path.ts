/** A host path as a person reads it: the home folder shown as "~" (`/home/ann/src/app` → `~/src/app`). */
export function tildePath(p: string, homeDir: string | undefined): string {
  if (!homeDir || homeDir === '/') return p;
  const home = homeDir.endsWith('/') ? homeDir.slice(0, -1) : homeDir;
  return p === home || p.startsWith(`${home}/`) ? `~${p.slice(home.length)}` : p;
}
