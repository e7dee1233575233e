import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * After a run: a 401/403 from a host that received a credential usually means an expired grant or a
 * missing scope. One hint per grant, with the command that renews it.
 */
export async function grantHints(runDir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(runDir, 'network.jsonl'), 'utf8');
  } catch {
    return [];
  }
  const seen = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const ev = JSON.parse(line) as { grant?: string; status?: number; host?: string; blocked?: boolean };
      if (ev.grant && !ev.blocked && (ev.status === 401 || ev.status === 403) && !seen.has(ev.grant)) {
        seen.set(ev.grant, `${ev.host ?? 'the upstream'} answered ${ev.status}`);
      }
    } catch {
      // a torn last line while the daemon writes; ignore
    }
  }
  return [...seen].map(([grant, what]) => {
    const provider = grant.split(':')[0] ?? grant;
    return `The ${grant} grant was refused (${what}): it may be expired or lack a scope. Renew it with: moat grant ${provider}`;
  });
}
