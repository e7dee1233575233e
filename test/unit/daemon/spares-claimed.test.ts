/**
 * A claimer that dies between its claim and the run's record (killed, crashed) leaves its spare waiting;
 * the pool sees its process gone (or the claim's time runs out) and moat-init exits. Nothing else would ever remove that container's folder
 * (no record names it; moat clean takes the container as an orphan and leaves the folder), so the pool does.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planKey, type ContainerPlan } from '../../../src/container/plan.js';
import { endRun as endRunOf, testPlan } from './spare-fixtures.js';
import { SparePool } from '../../../src/daemon/spares.js';
import { claimerPid } from '../../../src/daemon/server.js';
import { pidNamespace } from '../../../src/process-alive.js';
import { MoatHome } from '../../../src/home/paths.js';
import type { ContainerRuntime } from '../../../src/runtime/types.js';

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'moat-spare-claim-'));
});
afterEach(async () => rm(base, { recursive: true, force: true }));

const until = async (ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
};

interface Pooled {
  home: MoatHome;
  plan: ContainerPlan;
  pool: SparePool;
  /** Each container's "moat-init" wait, by container id. */
  waits: Map<string, net.Socket>;
  removed: string[];
  endRun: (id: string) => Promise<void>;
}

/**
 * A pool over a fake engine whose "moat-init" connects to each new spare's go socket and waits, with the
 * spare of one plan ready (two runs of it ended).
 */
async function spareReady(): Promise<Pooled> {
  const home = new MoatHome(join(base, 'home'));
  const ws = join(base, 'ws');
  await mkdir(ws, { recursive: true });
  const plan = await testPlan(home, ws);
  const removed: string[] = [];
  const waits = new Map<string, net.Socket>();
  let n = 0;
  const runtime = {
    create: () => Promise.resolve(`cid${++n}`),
    start: async (cid: string) => {
      for (const d of await (await import('node:fs/promises')).readdir(home.runsDir)) {
        if (existsSync(join(home.runDir(d), 'net', 'go.sock')) && ![...waits.values()].some((s) => (s as net.Socket & { d?: string }).d === d)) {
          const s = net.connect(join(home.runDir(d), 'net', 'go.sock')) as net.Socket & { d?: string };
          s.d = d;
          s.on('error', () => undefined);
          waits.set(cid, s);
        }
      }
    },
    remove: (cid: string) => {
      removed.push(cid);
      return Promise.resolve();
    },
    list: () => Promise.resolve([]),
  } as unknown as ContainerRuntime;
  const pool = new SparePool(home, runtime, () => undefined);
  const endRun = (id: string): Promise<void> => endRunOf(pool, home, id, plan);
  await endRun('run_000000000001');
  await endRun('run_000000000002');
  return { home, plan, pool, waits, removed, endRun };
}

describe('a claimed spare whose claimer ended', () => {
  it("spare-claimer-killed: its wait ends within seconds of its claimer process ending, not after the claim's 30 minutes; a live claimer keeps it", async () => {
    const { plan, pool, waits } = await spareReady();
    const claimer = spawn('sleep', ['60']);
    await new Promise((r) => claimer.once('spawn', r));
    const spare = pool.claim(planKey(plan), claimer.pid);
    expect(spare?.containerId).toBe('cid1');
    const wait = waits.get('cid1');
    let closed = false;
    wait?.on('close', () => (closed = true));
    await new Promise((r) => setTimeout(r, 2500));
    expect(closed).toBe(false); // its claimer lives: the spare waits for the go
    claimer.kill('SIGKILL');
    await new Promise((r) => claimer.once('exit', r));
    // Checked once a second: closed within 5 s.
    for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
    expect(pool.starting).toBe(0);
    await pool.close();
  });
});

describe("a claim's claimer", () => {
  it("is the pid the claim names when it shares the daemon's pid namespace, and no one otherwise (its pid would be another process)", () => {
    const ns = pidNamespace();
    expect(ns).toMatch(/^pid:\[\d+\]$/);
    expect(claimerPid({ key: 'k', pid: 4242, pidNs: ns })).toBe(4242);
    expect(claimerPid({ key: 'k', pid: 4242, pidNs: 'pid:[1]' })).toBeUndefined();
    expect(claimerPid({ key: 'k', pid: 4242 })).toBeUndefined();
    for (const pid of [0, 1, -5, 1.5, '4242', 2 ** 60]) expect(claimerPid({ key: 'k', pid, pidNs: ns })).toBeUndefined();
  });
});

describe('a claimed spare whose claimer never wrote the run', () => {
  it('is removed with its folder once its wait ends; one with a record is left to its run', async () => {
    const { home, plan, pool, waits, removed, endRun } = await spareReady();
    const first = pool.claim(planKey(plan));
    expect(first?.containerId).toBe('cid1');
    // Its claimer died before the record: the wait ends (the claim's time ran out, moat-init exited).
    waits.get('cid1')?.destroy();
    await until(() => removed.includes('cid1') && !existsSync(home.runDir(first?.id ?? '')));
    expect(removed).toContain('cid1');
    expect(existsSync(home.runDir(first?.id ?? ''))).toBe(false);

    // A claim whose run was recorded stays its run's.
    await endRun('run_000000000003');
    const second = pool.claim(planKey(plan));
    expect(second?.containerId).toBe('cid2');
    await writeFile(join(home.runDir(second?.id ?? ''), 'metadata.json'), '{}');
    waits.get('cid2')?.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(removed).not.toContain('cid2');
    await pool.close();
  });
});
