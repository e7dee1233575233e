import { join } from 'node:path';
import { readJsonlObjects } from '../home/jsonl.js';

/**
 * After a run: a 401/403 from a host that received a credential usually means an expired grant or a
 * missing scope. One hint per grant, with the command that renews it.
 */
export async function grantHints(runDir: string): Promise<string[]> {
  const seen = new Map<string, string>();
  // Streamed: network.jsonl can be as large as its budget.
  try {
    for await (const ev of readJsonlObjects<{ grant?: string; status?: number; host?: string; blocked?: boolean }>(join(runDir, 'network.jsonl'))) {
      if (ev.grant && !ev.blocked && (ev.status === 401 || ev.status === 403) && !seen.has(ev.grant)) {
        seen.set(ev.grant, `${ev.host ?? 'the upstream'} answered ${ev.status}`);
      }
    }
  } catch {
    return []; // unreadable: no hints
  }
  return [...seen].map(([grant, what]) => {
    const provider = grant.split(':')[0] ?? grant;
    return `The ${grant} grant was refused (${what}): it may be expired or lack a scope. Renew it with: moat grant ${provider}`;
  });
}
