import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AuditSigner, AuditType, JsonObject } from '../../../src/audit/index.js';
import { AuditWriter, JsonlAuditStore, generateSigner, parsePublicKey, verifyStore } from '../../../src/audit/index.js';

export const tmpDirs: string[] = [];

export async function tmpRunDir(name = 'run-1'): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'moat-audit-'));
  tmpDirs.push(root);
  return join(root, name);
}

export async function cleanup(): Promise<void> {
  await Promise.all(tmpDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export type Event = [AuditType, JsonObject];

export function sampleEvents(n: number): Event[] {
  const types: AuditType[] = ['lifecycle', 'console', 'network', 'credential', 'secret', 'policy', 'ssh'];
  return Array.from({ length: n }, (_, i): Event => [types[i % types.length]!, { i, text: `event ${i} ✓`, nested: { ok: i % 2 === 0 } }]);
}

/** A closed run with periodic checkpoints every `every` entries (flushes after each entry). */
export async function writeRun(dir: string, events: Event[], signer: AuditSigner = generateSigner(), every = 5): Promise<AuditSigner> {
  const w = await AuditWriter.open(dir, signer, { checkpointEvery: every });
  for (const [type, data] of events) {
    w.append(type, data);
    await w.flush();
  }
  await w.close();
  return signer;
}

export async function verifyDir(dir: string, signer: AuditSigner): ReturnType<typeof verifyStore> {
  return verifyStore(new JsonlAuditStore(dir), parsePublicKey(signer.publicKeyPem));
}

export async function readLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 0);
}

export async function writeLines(path: string, lines: string[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, lines.map((l) => `${l}\n`).join(''));
}

export function failed(report: { checks: { status: string; problem?: string; name: string }[] }): string[] {
  return report.checks.filter((c) => c.status === 'fail').map((c) => `${c.name}:${c.problem ?? ''}`);
}
