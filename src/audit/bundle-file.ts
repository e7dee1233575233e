import { BUNDLE_FORMAT, PROOF_FORMAT, malformed, startBundleCheck, verifyProof, type BundleCheck, type KeyOption } from './bundle.js';
import { readJsonMembers } from './json-members.js';
import type { AuditReport } from './types.js';

const HEAD = ['format', 'runId', 'publicKey', 'checkpoints'] as const;

/**
 * `moat audit verify FILE`: verify a bundle or an inclusion proof from a file of any size, streamed.
 * A bundle as `moat audit --export` writes it (head and checkpoints first) is read once; a bundle whose
 * entries come before its checkpoints is read twice. Memory stays bounded either way.
 */
export async function verifyDocumentFile(file: string, opts: KeyOption = {}): Promise<AuditReport> {
  let check: BundleCheck | AuditReport | undefined;
  const begin = (members: ReadonlyMap<string, unknown>): ((raw: string) => void) | undefined => {
    const head = Object.fromEntries(members);
    if (head.format !== BUNDLE_FORMAT || !HEAD.every((k) => members.has(k))) return undefined;
    check = startBundleCheck(head, opts);
    const c = check;
    return 'addEntry' in c ? (raw) => c.addText(raw) : undefined;
  };
  const first = await readJsonMembers(file, { arrayKey: 'entries', onArray: begin });
  const head = Object.fromEntries(first.members);
  if (head.format === PROOF_FORMAT) return verifyProof(head, opts);
  if (head.format !== BUNDLE_FORMAT) return malformed('run', `not a ${BUNDLE_FORMAT} document`);
  if (!first.array) return malformed('run', 'bundle lacks entries, checkpoints or runId');
  if (!check) {
    // The entries came before the head: read them again, now that the checkpoints are known.
    check = startBundleCheck(head, opts);
    const c = check;
    if ('addEntry' in c) await readJsonMembers(file, { arrayKey: 'entries', onArray: () => (raw) => c.addText(raw) });
  }
  return 'addEntry' in check ? check.finish() : check;
}
