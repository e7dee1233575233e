import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkNotices } from '../../../src/run/network-notices.js';
import { watchNetwork } from '../../../src/run/network-watch.js';

const blocked = (host: string) =>
  JSON.stringify({ type: 'request', method: 'CONNECT', url: `${host}:443`, host, status: 403, blocked: true, refusal: 'strict', port: 443 });
const until = async (fn: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("following a run's network.jsonl", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-netwatch-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a line for a host refused while the run goes on, once, and nothing more after stop', async () => {
    const file = join(dir, 'network.jsonl');
    const notices = new NetworkNotices({ configPath: '~/.moat/config.yaml' });
    const lines: string[] = [];
    const w = watchNetwork({ file, notices, live: (l) => lines.push(l), intervalMs: 20 });
    await new Promise((r) => setTimeout(r, 50)); // no file yet: nothing, no error
    await appendFile(file, `${blocked('a.test')}\n${blocked('a.test')}\n{"torn`);
    await until(() => lines.length === 1);
    expect(lines).toEqual(['moat: blocked a.test (strict policy) — allow it with --allow-host a.test']);
    await appendFile(file, `"}\n${blocked('b.test')}\n`);
    await w.stop();
    expect(lines).toHaveLength(1); // b.test arrived at the end: the summary names it
    expect(notices.summary()[0]).toBe('moat: the network refused or could not reach 2 hosts during this run:');
  });

  it('without a live sink (a full-screen run) it prints nothing but still feeds the summary', async () => {
    const file = join(dir, 'network.jsonl');
    await appendFile(file, `${blocked('a.test')}\n`);
    const notices = new NetworkNotices({ configPath: '~/.moat/config.yaml' });
    const w = watchNetwork({ file, notices, intervalMs: 20 });
    await w.stop();
    expect(notices.summary()).toContain('  a.test  blocked: strict policy, 1 request');
  });

  it('attaching later: what the file held is summarised, only what comes after is printed', async () => {
    const file = join(dir, 'network.jsonl');
    await appendFile(file, `${blocked('old.test')}\n`);
    const notices = new NetworkNotices({ configPath: '~/.moat/config.yaml' });
    const lines: string[] = [];
    const w = watchNetwork({ file, notices, live: (l) => lines.push(l), intervalMs: 20, quietHistory: true });
    await new Promise((r) => setTimeout(r, 200)); // the history is what the file held when following began
    await appendFile(file, `${blocked('new.test')}\n`);
    await until(() => lines.length === 1);
    await w.stop();
    expect(lines).toEqual(['moat: blocked new.test (strict policy) — allow it with --allow-host new.test']);
    expect(notices.summary()[0]).toBe('moat: the network refused or could not reach 2 hosts during this run:');
  });

  it('reads a large file in bounded steps', async () => {
    const file = join(dir, 'network.jsonl');
    const many = Array.from({ length: 3000 }, (_, i) => blocked(`h${i % 300}.test`)).join('\n');
    await appendFile(file, `${many}\n`);
    const notices = new NetworkNotices({ configPath: '~/.moat/config.yaml' });
    const lines: string[] = [];
    const w = watchNetwork({ file, notices, live: (l) => lines.push(l), intervalMs: 10, chunkBytes: 4096 });
    await until(() => lines.length >= 5);
    await w.stop();
    expect(lines.length).toBeLessThanOrEqual(7); // burst of 5, then about one a second
    expect(notices.summary()[0]).toBe('moat: the network refused or could not reach 300 hosts during this run:');
  });
});
