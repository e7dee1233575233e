/**
 * A container writes its agent's transcript folder (mounted from the host), and the host CLI later lists
 * it (`moat claude sessions`, `--resume`, `--continue`), possibly as root. Each test plants what a hostile
 * container could and checks the listing neither follows it to a host file nor hangs on it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claudeSessions, codexSessions } from '../../../src/agents/sessions.js';

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const ROLLOUT = (id: string): string => `rollout-2026-01-02T10-00-00-${id}.jsonl`;

let root: string;
let folder: string;
let secret: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'moat-hostile-transcripts-'));
  folder = join(root, 'mounted');
  await mkdir(folder);
  // A host file outside the folder (the shape of a transcript line, so a reader would take its timestamp).
  secret = join(root, 'host-secret.jsonl');
  await writeFile(secret, '{"timestamp":"2001-02-03T04:05:06.000Z","secret":"host-only"}\n');
  const old = new Date('2001-02-03T04:05:06Z');
  await utimes(secret, old, old);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Fails instead of hanging when the listing blocks. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_r, reject) => setTimeout(() => reject(new Error(`still listing after ${ms} ms`)), ms))]);
}

describe('hostile transcript folder: symlinks', () => {
  it('claude: a <session>.jsonl symlinked to a host file is not a conversation (never opened, never offered to copy)', async () => {
    await symlink(secret, join(folder, `${S1}.jsonl`));
    await writeFile(join(folder, `${S2}.jsonl`), '{"timestamp":"2026-01-02T10:00:00.000Z"}\n');
    const s = await claudeSessions(folder);
    expect(s.map((x) => x.sessionId)).toEqual([S2]);
  });

  it('codex: a rollout file symlinked to a host file, and dated folders symlinked to host folders, are skipped', async () => {
    await mkdir(join(folder, '2026', '01', '02'), { recursive: true });
    await symlink(secret, join(folder, '2026', '01', '02', ROLLOUT(S1)));
    // A host folder laid out like the sessions tree, reached only through the container's symlinks.
    const hostTree = join(root, 'host-tree');
    await mkdir(join(hostTree, '01', '02'), { recursive: true });
    await writeFile(join(hostTree, '01', '02', ROLLOUT(S2)), '{"timestamp":"2026-01-02T10:00:00.000Z"}\n');
    await symlink(hostTree, join(folder, '2025'));
    expect(await codexSessions(folder)).toEqual([]);
  });
});

describe('hostile transcript folder: files that block or are huge', () => {
  it('a FIFO named like a conversation does not block the listing', async () => {
    execFileSync('mkfifo', [join(folder, `${S1}.jsonl`)]);
    await writeFile(join(folder, `${S2}.jsonl`), '{"timestamp":"2026-01-02T10:00:00.000Z"}\n');
    const s = await within(claudeSessions(folder), 3000);
    expect(s.map((x) => x.sessionId)).toEqual([S2]);
  });

  it('a huge transcript is only read at its start', async () => {
    const big = join(folder, `${S1}.jsonl`);
    await writeFile(big, '{"timestamp":"2026-01-02T10:00:00.000Z"}\n');
    await truncate(big, 64 * 1024 ** 3); // sparse: 64 GiB on paper
    const s = await within(claudeSessions(folder), 3000);
    expect(s.map((x) => x.sessionId)).toEqual([S1]);
    expect(new Date(s[0]!.startedAt).toISOString()).toBe('2026-01-02T10:00:00.000Z');
  });

  it('a conversation swapped for a FIFO between the check and the open does not block the listing', async () => {
    const name = join(folder, `${S1}.jsonl`);
    await writeFile(join(folder, 'regular'), '{"timestamp":"2026-01-02T10:00:00.000Z"}\n');
    execFileSync('mkfifo', [join(folder, 'fifo')]);
    // The container's side, in its own process: the name alternates between a regular file and a FIFO.
    const attacker = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('node:fs');
      const [dir, name] = process.argv.slice(1);
      process.stdout.write('ready\\n');
      for (;;) {
        try { fs.linkSync(dir + '/regular', name); fs.unlinkSync(name); } catch {}
        try { fs.renameSync(dir + '/fifo', name); fs.renameSync(name, dir + '/fifo'); } catch {}
      }
    `,
        folder,
        name,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((r) => attacker.stdout.once('data', () => r()));
    try {
      const deadline = Date.now() + 2000;
      let listings = 0;
      while (Date.now() < deadline) {
        await within(claudeSessions(folder), 3000);
        listings++;
      }
      expect(listings).toBeGreaterThan(10);
    } finally {
      attacker.kill('SIGKILL');
    }
  });
});
