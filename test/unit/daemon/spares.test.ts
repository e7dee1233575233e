import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { SparePool } from '../../../src/daemon/spares.js';
import { SPARE_PLAN_FILE, planKey, type ContainerPlan } from '../../../src/container/plan.js';
import { sourceIdentities } from '../../../src/container/sources.js';
import type { ContainerRuntime, ContainerSpec } from '../../../src/runtime/types.js';

/** An engine whose start connects, as a spare's moat-init does, to the go socket in the run's folder. */
class FakeEngine {
  created: ContainerSpec[] = [];
  removed: string[] = [];
  /** What each started container's moat-init received on its wait (by container id). */
  received = new Map<string, string>();
  conns = new Map<string, net.Socket>();
  connect = true;

  asRuntime(): ContainerRuntime {
    return {
      create: async (spec: ContainerSpec) => {
        this.created.push(spec);
        return `c${this.created.length}`;
      },
      start: async (id: string) => {
        if (!this.connect) return;
        const spec = this.created[Number(id.slice(1)) - 1] as ContainerSpec;
        const netDir = spec.mounts.find((m) => m.target === '/moat/net')?.source as string;
        const sock = net.connect(join(netDir, 'go.sock'));
        this.conns.set(id, sock);
        this.received.set(id, '');
        sock.on('data', (d) => this.received.set(id, (this.received.get(id) ?? '') + d.toString()));
        sock.on('error', () => undefined);
      },
      remove: async (id: string) => {
        this.removed.push(id);
        this.conns.get(id)?.destroy();
      },
      list: async () => [],
    } as unknown as ContainerRuntime;
  }
}

let root: string;
let home: MoatHome;
let ws: string;
let engine: FakeEngine;
let pool: SparePool;
const logs: string[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'moat-spares-'));
  home = new MoatHome(join(root, 'home'));
  ws = join(root, 'ws');
  await mkdir(ws);
  await mkdir(home.runsDir, { recursive: true });
  engine = new FakeEngine();
  logs.length = 0;
  pool = new SparePool(home, engine.asRuntime(), (m) => logs.push(m));
});
afterEach(async () => {
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

async function plan(extra: Partial<ContainerPlan> = {}): Promise<ContainerPlan> {
  const s = await stat(ws);
  return {
    home: home.root,
    workspace: ws,
    image: 'moat-image:test',
    owner: { uid: s.uid, gid: s.gid },
    proxyPort: 43128,
    mounts: [{ source: ws, target: '/workspace', readOnly: false }],
    extraMounts: [],
    hidden: [],
    homeFiles: [{ path: '.config/x.json', content: '{"a":1}', mode: 0o600 }],
    tty: false,
    openStdin: true,
    pidsLimit: 1024,
    logLimitBytes: 1 << 20,
    sources: await sourceIdentities([ws]),
    files: [],
    ...extra,
  };
}

let n = 0;
/** A run of this plan that has ended (its record folder holds the plan). */
async function endedRun(p: ContainerPlan): Promise<string> {
  const id = `run_${(0xa00000000000 + n++).toString(16)}`;
  await mkdir(home.runDir(id), { recursive: true });
  await writeFile(join(home.runDir(id), SPARE_PLAN_FILE), JSON.stringify(p));
  return id;
}

describe('spares', () => {
  it('are made for a plan that ended twice, claimed once, and sent on with "g"', async () => {
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    expect(pool.size).toBe(0); // a plan seen once is not worth a container
    await pool.afterRun(await endedRun(p));
    expect(pool.size).toBe(1);
    const spec = engine.created[0] as ContainerSpec;
    expect(spec.cmd).toEqual(['moat-spare']);
    expect(spec.entrypoint).toContain('MOAT_SPARE=1');
    expect(spec.labels['moat.spare']).toBe('1');
    // Its home files are staged from the plan.
    const claimed = pool.claim(planKey(p));
    expect(claimed).toBeDefined();
    expect(await readFile(join(home.runDir(claimed!.id), 'stage', 'home', '.config', 'x.json'), 'utf8')).toBe('{"a":1}');
    expect(pool.claim(planKey(p))).toBeUndefined(); // once
    expect(pool.go(claimed!.id)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(engine.received.get(claimed!.containerId)).toBe('g');
    expect(pool.go(claimed!.id)).toBe(false);
    // The go socket is gone: nothing of the run's reaches it.
    expect(existsSync(join(home.runDir(claimed!.id), 'net', 'go.sock'))).toBe(false);
  });

  it('a run that started in a spare leaves a spare at once', async () => {
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    await pool.afterRun(await endedRun(p));
    const s = pool.claim(planKey(p))!;
    pool.go(s.id);
    await writeFile(join(home.runDir(s.id), SPARE_PLAN_FILE), JSON.stringify(p));
    await pool.afterRun(s.id);
    expect(pool.size).toBe(1);
  });

  it('another key claims nothing', async () => {
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    await pool.afterRun(await endedRun(p));
    expect(pool.claim(planKey(await plan({ pidsLimit: 5 })))).toBeUndefined();
    expect(pool.size).toBe(1);
  });

  it('hostile: a workspace swapped for another folder after the run planned it gets no spare', async () => {
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    await rm(ws, { recursive: true });
    await mkdir(ws); // same path, another folder (another inode)
    await pool.afterRun(await endedRun(p));
    expect(pool.size).toBe(0);
    expect(engine.created).toHaveLength(0);
    expect(logs.join('\n')).toMatch(/changed since the run was planned/);
  });

  it('hostile: a mount source swapped for a link after the run planned it gets no spare', async () => {
    const data = join(ws, 'data');
    await mkdir(data);
    const p = await plan({ sources: await sourceIdentities([ws, data]) });
    await pool.afterRun(await endedRun(p));
    await rm(data, { recursive: true });
    const { symlink } = await import('node:fs/promises');
    await symlink('/', data);
    await pool.afterRun(await endedRun(p));
    expect(pool.size).toBe(0);
    expect(engine.created).toHaveLength(0);
  });

  it("hostile: a plan of another home is not made (the daemon's own home only)", async () => {
    const p = await plan({ home: '/elsewhere' });
    await pool.afterRun(await endedRun(p));
    await pool.afterRun(await endedRun(p));
    expect(pool.size).toBe(0);
  });

  it('hostile: a second connection to the go socket is closed at once (only the first, moat-init, waits)', async () => {
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    await pool.afterRun(await endedRun(p));
    const dir = (engine.created[0] as ContainerSpec).mounts.find((m) => m.target === '/moat/net')!.source;
    const other = net.connect(join(dir, 'go.sock'));
    const closed = await new Promise<boolean>((r) => {
      other.on('close', () => r(true));
      other.on('error', () => undefined);
      setTimeout(() => r(false), 2000);
    });
    expect(closed).toBe(true);
    expect(pool.size).toBe(1);
  });

  it('a spare whose container ended is removed with its folder', async () => {
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    await pool.afterRun(await endedRun(p));
    const cid = 'c1';
    engine.conns.get(cid)?.destroy();
    for (let i = 0; i < 50 && pool.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pool.size).toBe(0);
    expect(engine.removed).toContain(cid);
  });

  it('a spare that never gets ready is removed (and not offered)', async () => {
    engine.connect = false;
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    // (READY_MS is a minute: the test stops the pool instead, which must not leave the half-made spare.)
    const making = pool.afterRun(await endedRun(p));
    await new Promise((r) => setTimeout(r, 100));
    expect(pool.size).toBe(0);
    await pool.close();
    void making;
  });

  it('the daemon exiting while a spare is being made: close() waits, and the half-made container and its folder go', async () => {
    engine.connect = false; // moat-init has not connected yet (it would take up to a minute to give up)
    const p = await plan();
    await pool.afterRun(await endedRun(p));
    const making = pool.afterRun(await endedRun(p));
    for (let i = 0; i < 100 && engine.created.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(engine.created).toHaveLength(1);
    const runDir = (engine.created[0] as ContainerSpec).mounts.find((m) => m.target === '/moat/net')!.source.replace(/\/net$/, '');
    await pool.close();
    // Removed before close() returned (the daemon exits right after it): nothing is left for a sweep.
    expect(engine.removed).toEqual(['c1']);
    expect(existsSync(runDir)).toBe(false);
    await making;
    expect(pool.size).toBe(0);
  });

  it('at most three are kept: the oldest goes', async () => {
    const plans = [await plan({ pidsLimit: 1 }), await plan({ pidsLimit: 2 }), await plan({ pidsLimit: 3 }), await plan({ pidsLimit: 4 })];
    for (const p of plans) {
      await pool.afterRun(await endedRun(p));
      await pool.afterRun(await endedRun(p));
    }
    expect(pool.size).toBe(3);
    expect(pool.claim(planKey(plans[0]!))).toBeUndefined();
    expect(engine.removed).toEqual(['c1']);
  });

  it('all go when the daemon exits; a claimed one stays its run', async () => {
    const a = await plan({ pidsLimit: 1 });
    const b = await plan({ pidsLimit: 2 });
    for (const p of [a, b]) {
      await pool.afterRun(await endedRun(p));
      await pool.afterRun(await endedRun(p));
    }
    const claimed = pool.claim(planKey(a))!;
    await pool.close();
    expect(pool.size).toBe(0);
    expect(engine.removed).toEqual(['c2']);
    expect(existsSync(home.runDir(claimed.id))).toBe(true);
  });
});
