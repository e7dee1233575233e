import { describe, it, expect } from 'vitest';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecks, exitCodeOf } from '../../../src/doctor/run.js';
import { diskUse } from '../../../src/doctor/disk.js';
import { versionsInHistory } from '../../../src/doctor/images.js';
import { EngineProbe } from '../../../src/doctor/engine-probe.js';
import { MoatHome } from '../../../src/home/paths.js';
import type { Check, DoctorContext } from '../../../src/doctor/types.js';

const ctx: DoctorContext = { home: new MoatHome('/nonexistent-moat-home'), env: {}, cwd: '/', now: new Date(), engine: new EngineProbe({}) };

describe('runChecks', () => {
  it('reports a hung check as its own result after its timeout, and the others as they are', async () => {
    const hung: Check = { name: 'hung', timeoutMs: 50, onTimeout: { detail: 'it hung', fix: 'unhang it' }, run: () => new Promise(() => undefined) };
    const fine: Check = { name: 'fine', onTimeout: { detail: '', fix: '' }, run: () => Promise.resolve({ name: 'fine', status: 'ok', detail: 'all good' }) };
    const started = Date.now();
    const results = await runChecks([hung, fine], ctx);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(results).toEqual([
      { name: 'hung', status: 'fail', detail: 'it hung (no answer within 0.1 s)', fix: 'unhang it' },
      { name: 'fine', status: 'ok', detail: 'all good' },
    ]);
    expect(exitCodeOf(results)).toBe(1);
  });

  it('turns a check that throws into a FAIL with its hint, and keeps several results of one check', async () => {
    const throws: Check = {
      name: 'boom',
      onTimeout: { detail: '', fix: '' },
      run: () => Promise.reject(Object.assign(new Error('it broke'), { hint: 'mend it' })),
    };
    const many: Check = {
      name: 'many',
      onTimeout: { detail: '', fix: '' },
      run: () =>
        Promise.resolve([
          { name: 'a', status: 'ok', detail: '1' },
          { name: 'b', status: 'warn', detail: '2' },
        ]),
    };
    const results = await runChecks([throws, many], ctx);
    expect(results).toEqual([
      { name: 'boom', status: 'fail', detail: 'it broke', fix: 'mend it' },
      { name: 'a', status: 'ok', detail: '1' },
      { name: 'b', status: 'warn', detail: '2' },
    ]);
    expect(exitCodeOf(results.slice(1))).toBe(0);
  });
});

describe('diskUse', () => {
  it('never follows a symbolic link out of the folder and stops at its entry bound', async () => {
    const root = await mkdtemp(join(tmpdir(), 'moat-doctor-disk-'));
    const outside = await mkdtemp(join(tmpdir(), 'moat-doctor-outside-'));
    try {
      await writeFile(join(outside, 'big'), Buffer.alloc(1024 * 1024));
      await mkdir(join(root, 'runs', 'run_000000000001'), { recursive: true });
      await writeFile(join(root, 'runs', 'run_000000000001', 'logs.jsonl'), 'x');
      await symlink(outside, join(root, 'runs', 'run_000000000001', 'escape'));
      const u = await diskUse(root);
      expect(u.complete).toBe(true);
      expect(u.entries).toBe(5);
      expect(u.bytes).toBeLessThan(1024 * 1024);
      const cut = await diskUse(root, 2);
      expect(cut).toMatchObject({ entries: 2, complete: false });
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('versionsInHistory', () => {
  it('finds the agent versions the npm build step installed', () => {
    const history = [
      { CreatedBy: "/bin/sh -c moat-build-env sh -c 'npm install -g --no-fund @anthropic-ai/claude-code@2.1.331 @openai/codex@0.169.0 typescript@5.9'" },
      { CreatedBy: '/bin/sh -c #(nop)  CMD ["/bin/bash"]' },
      {},
    ];
    expect(versionsInHistory(history, '@anthropic-ai/claude-code')).toEqual(['2.1.331']);
    expect(versionsInHistory(history, '@openai/codex')).toEqual(['0.169.0']);
    expect(versionsInHistory(history, 'typescript')).toEqual(['5.9']);
  });
});

describe('daemon check', () => {
  it('a daemon socket that accepts but never answers is a FAIL with the fix, within a few seconds', async () => {
    const { daemonCheck } = await import('../../../src/doctor/daemon.js');
    const root = await mkdtemp(join(tmpdir(), 'moat-doctor-daemon-'));
    const home = new MoatHome(root);
    await mkdir(home.daemonDir, { recursive: true });
    const held: Socket[] = [];
    const server = createServer((s) => {
      held.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(join(home.daemonDir, 'daemon.sock'), resolve));
    try {
      const started = Date.now();
      const [r] = await runChecks([daemonCheck], { ...ctx, home });
      expect(Date.now() - started).toBeLessThan(8000);
      expect(r).toEqual({
        name: 'daemon',
        status: 'fail',
        detail: 'the daemon took the connection but did not answer',
        fix: `moat proxy restart; its log: ${join(home.daemonDir, 'daemon.log')}`,
      });
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    }
  }, 15_000);
});
