/**
 * Service ports (moat.yaml `ports:` and `-p NAME=PORT`): names become host names
 * (`NAME.RUN.localhost`) and environment variable suffixes (`MOAT_URL_NAME`), so they are DNS labels.
 */

/** A service name: a lower-case DNS label starting with a letter, at most 30 characters, no trailing dash. */
const PORT_NAME_RE = /^[a-z](?:[a-z0-9-]{0,28}[a-z0-9])?$/;
/** Most services one run may publish. */
export const MAX_PORTS = 16;

export function portNameProblem(name: string): string | undefined {
  return PORT_NAME_RE.test(name)
    ? undefined
    : `"${name.slice(0, 40)}" is not a valid service name (lower-case letters, digits and dashes, starting with a letter, at most 30 characters)`;
}

function portNumberProblem(port: number): string | undefined {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? undefined : `${String(port)} is not a port number (1-65535)`;
}

/** `-p web=3000` entries → { web: 3000 }; the first problem found is returned instead. */
export function parsePortFlags(entries: readonly string[]): { ports: Record<string, number> } | { problem: string; entry: string } {
  const ports: Record<string, number> = {};
  for (const entry of entries) {
    const m = /^([^=]*)=([0-9]{1,5})$/.exec(entry);
    if (!m?.[1] || m[2] === undefined) return { problem: 'expected NAME=PORT, e.g. web=3000', entry };
    const problem = portNameProblem(m[1]) ?? portNumberProblem(Number(m[2]));
    if (problem) return { problem, entry };
    ports[m[1]] = Number(m[2]);
  }
  if (Object.keys(ports).length > MAX_PORTS) return { problem: `at most ${MAX_PORTS} services per run`, entry: entries.join(' ') };
  return { ports };
}
