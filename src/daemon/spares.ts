/**
 * Spares: a container started ahead of the run that will use it. Creating and starting a container is most
 * of a short run's start-up (~300 ms of the engine's under runc, more under gVisor, then moat-init's
 * preparation); a spare has done all of it and waits in moat-init, before anything of a run's, on a
 * connection to its go socket (moat-init.sh).
 *
 * When a run ends, its plan (container/plan.ts: everything of its container but its id, name, command and
 * environment) is made into a spare, if the same plan has ended before (a run repeated: a plan seen once is
 * not worth a container). A new run whose plan has the same key claims it: the CLI writes the command and
 * environment into the spare's stage and asks for the go, which this module sends as one byte.
 *
 * Bounds: one spare per plan, at most MAX_SPARES per home, each removed after TTL_MS unclaimed, all removed
 * when the daemon exits; a claimed spare not sent on within CLAIM_MS, or whose claimer's process has ended
 * (killed between its claim and its go), is let go (moat-init exits, 75, and its run ends).
 */
import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import type { MoatHome } from '../home/paths.js';
import type { ContainerRuntime } from '../runtime/types.js';
import { LABEL_HOME, LABEL_RUN_ID } from '../runtime/types.js';
import { RunStore } from '../store/store.js';
import { LIVE_STATES } from '../store/types.js';
import { RUN_ID_RE, newRunId, newRunName } from '../store/names.js';
import { withLock } from '../home/fs.js';
import { processGone } from '../process-alive.js';
import { LABEL_SPARE, SPARE_PLAN_FILE, containerSpec, planKey, prepareRunDir, type ContainerPlan } from '../container/plan.js';
import { assertSourcesUnchanged, sourceIdentities, swappableSources } from '../container/sources.js';
import { listenInPlace } from '../gateway/transport.js';

const MAX_SPARES = 3;
const TTL_MS = 10 * 60_000;
const READY_MS = 60_000;
/** As long as a run's start may wait for its pre-run snapshot (daemonSnapshot's bound): a first one can take minutes. */
const CLAIM_MS = 30 * 60_000;
/** How often a claimed spare's claimer is looked for. */
const CLAIMER_CHECK_MS = 1000;
/** Plans of ended runs remembered (a plan made into a spare once it ends a second time). */
const RECENT_PLANS = 64;

interface Spare {
  key: string;
  id: string;
  name: string;
  containerId: string;
  server: net.Server;
  /** moat-init's wait: its connection to the go socket (absent until it connects). */
  conn?: net.Socket;
  timer?: NodeJS.Timeout;
  /** While claimed: the check that its claimer (the CLI's process) still lives. */
  claimer?: NodeJS.Timeout;
  claimed: boolean;
}

/** A spare as handed to the run that claims it. */
export interface SpareView {
  id: string;
  name: string;
  containerId: string;
}

export class SparePool {
  /** Ready spares by plan key. */
  private readonly ready = new Map<string, Spare>();
  /** Claimed spares waiting for their go, by run id. */
  private readonly claimed = new Map<string, Spare>();
  /** Spares being made, by plan key: close() ends each wait and lets each remove what it made. */
  private readonly making = new Map<string, { done: Promise<void>; abort: () => void }>();
  private readonly recent: string[] = [];
  /** Runs started in a spare, until they end. */
  private readonly fromSpare = new Set<string>();
  private closed = false;

  constructor(
    private readonly home: MoatHome,
    private readonly runtime: ContainerRuntime,
    private readonly log: (msg: string) => void,
  ) {}

  /** Ready spares (health; the start-up bench waits for one). */
  get size(): number {
    return this.ready.size;
  }

  /** Spares claimed and not yet sent on: a run is starting (the daemon is not idle). */
  get starting(): number {
    return this.claimed.size;
  }

  /** A run ended: make a spare of its plan when it was a spare's or the plan has ended before. */
  async afterRun(id: string): Promise<void> {
    const fromSpare = this.fromSpare.delete(id);
    if (this.closed || !RUN_ID_RE.test(id)) return;
    let plan: ContainerPlan;
    try {
      plan = JSON.parse(await readFile(join(this.home.runDir(id), SPARE_PLAN_FILE), 'utf8')) as ContainerPlan;
    } catch {
      return; // a run that takes no spare (a terminal, services, spares off) or a plan that cannot be read
    }
    const key = planKey(plan);
    const seen = this.recent.includes(key);
    if (!seen) this.recent.push(key);
    if (this.recent.length > RECENT_PLANS) this.recent.shift();
    if (!(seen || fromSpare) || this.ready.has(key) || this.making.has(key)) return;
    const abort = { now: (): void => undefined };
    const done = this.make(key, plan, abort)
      .catch((err: unknown) => this.log(`spare for run ${id}'s plan not made: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.making.delete(key));
    this.making.set(key, { done, abort: () => abort.now() });
    await done;
  }

  private async make(key: string, plan: ContainerPlan, abort: { now: () => void }): Promise<void> {
    if (plan.home !== this.home.root) throw new Error('the plan is of another home');
    // What the plan's run approved must still be what each path leads to (mount-sources.ts): a run may
    // have swapped a folder of the workspace for a link before it ended.
    const paths = plan.sources.map((s) => s.path);
    // Each bind source must be one of them (a plan that leaves one out would mount it unchecked).
    const unlisted = plan.mounts.filter((m) => !paths.includes(m.source)).map((m) => m.source);
    if (unlisted.length > 0) throw new Error(`a mount source is not among the plan's checked sources (${unlisted.join(', ')})`);
    const store = new RunStore(this.home);
    // The engine mounts by path, and nothing checks afterwards what it mounted: a source a run can swap
    // (below a folder this plan or a live run can write) gets no spare (container/sources.ts).
    const writable = [
      ...plan.mounts.filter((m) => !m.readOnly).map((m) => m.source),
      // A record without the list (an older CLI's) has its workspace, as the set-id sweep assumes.
      ...(await store.list()).filter((r) => LIVE_STATES.has(r.state)).flatMap((r) => r.writable ?? [r.workspace]),
    ];
    const swappable = swappableSources(paths, writable);
    if (swappable.length > 0) throw new Error(`a mount source lies in a folder a run can write (${swappable.join(', ')})`);
    const unchanged = async (): Promise<void> => {
      await assertSourcesUnchanged(paths);
      const now = await sourceIdentities(paths);
      if (JSON.stringify(now) !== JSON.stringify(plan.sources)) throw new Error('a mount source changed since the run was planned');
    };
    await unchanged();
    // A --rebuild since (same tag, another image): the next run of this plan has another key.
    if (plan.imageId && (await this.runtime.inspectImage(plan.image))?.id !== plan.imageId) throw new Error('its image was rebuilt since');
    while (this.ready.size >= MAX_SPARES) {
      const oldest = this.ready.values().next().value as Spare;
      await this.drop(oldest, 'the oldest of too many');
    }
    const { id, name } = await withLock(join(this.home.locksDir, 'names'), async () => {
      const taken = new Set((await store.list()).filter((r) => LIVE_STATES.has(r.state)).map((r) => r.name));
      for (const s of [...this.ready.values(), ...this.claimed.values()]) taken.add(s.name);
      return { id: newRunId(), name: newRunName(taken) };
    });
    const runDir = this.home.runDir(id);
    const spare: Spare = { key, id, name, containerId: '', server: net.createServer(), claimed: false };
    const connected = new Promise<void>((resolve, reject) => {
      spare.server.on('connection', (sock) => {
        // The first connection is moat-init's; nothing else is spoken to.
        if (spare.conn || this.closed) return void sock.destroy();
        spare.conn = sock;
        sock.on('error', () => undefined);
        sock.on('close', () => void this.gone(spare));
        resolve();
      });
      spare.timer = setTimeout(() => reject(new Error('the spare did not get ready in time')), READY_MS);
      abort.now = () => reject(new Error('the daemon exits'));
    });
    // The daemon exits meanwhile: what was made so far is removed before it goes (close() waits for it).
    const stillWanted = (): void => {
      if (this.closed) throw new Error('the daemon exits');
    };
    connected.catch(() => undefined);
    try {
      await prepareRunDir(runDir, plan);
      await listenInPlace(
        { kind: 'unix-socket', hostDir: join(runDir, 'net'), socketPath: join(runDir, 'net', 'go.sock'), bindDir: join(runDir, '.go') },
        (path) =>
          new Promise((resolve, reject) => {
            spare.server.once('error', reject);
            spare.server.listen(path, () => resolve(spare.server));
          }),
      );
      stillWanted();
      spare.containerId = await this.runtime.create(containerSpec(plan, { id, name, runDir }));
      stillWanted();
      await this.runtime.start(spare.containerId);
      await connected;
      // Mounted now: still what was planned (a swap left in place across the start shows here).
      await unchanged();
    } catch (err) {
      clearTimeout(spare.timer);
      await this.discard(spare);
      throw err;
    }
    clearTimeout(spare.timer);
    if (this.closed) return void (await this.discard(spare));
    spare.timer = setTimeout(() => void this.drop(spare, 'unclaimed'), TTL_MS);
    spare.timer.unref();
    this.ready.set(key, spare);
    this.log(`spare ${id} ready for ${JSON.stringify(plan.workspace)}`);
  }

  /**
   * Hand the spare of this plan over (once); the claimer writes its stage, then asks for the go. `claimer`
   * is its process: when that ends before the go, the spare is let go then, not after CLAIM_MS (its run
   * would show as running all that time).
   */
  claim(key: string, claimer?: number): SpareView | undefined {
    const spare = this.ready.get(key);
    if (!spare) return undefined;
    this.ready.delete(key);
    spare.claimed = true;
    this.claimed.set(spare.id, spare);
    clearTimeout(spare.timer);
    // A claimer that never asks for the go (it failed, it was killed) does not leave the spare waiting.
    spare.timer = setTimeout(() => spare.conn?.destroy(), CLAIM_MS);
    spare.timer.unref();
    if (claimer !== undefined) {
      spare.claimer = setInterval(() => {
        if (processGone(claimer)) spare.conn?.destroy();
      }, CLAIMER_CHECK_MS);
      spare.claimer.unref();
    }
    return { id: spare.id, name: spare.name, containerId: spare.containerId };
  }

  /** moat-init goes on to the run's command. False: no claimed spare of that id is waiting. */
  go(id: string): boolean {
    const spare = this.claimed.get(id);
    if (!spare?.conn || spare.conn.destroyed) return false;
    this.claimed.delete(id);
    clearTimeout(spare.timer);
    clearInterval(spare.claimer);
    this.fromSpare.add(id);
    spare.conn.end('g');
    this.closeSocket(spare);
    return true;
  }

  /** Every spare goes (the daemon exits); a claimed one is its run's now and stays. */
  async close(): Promise<void> {
    this.closed = true;
    const making = [...this.making.values()];
    for (const m of making) m.abort();
    await Promise.all([...[...this.ready.values()].map((s) => this.drop(s, 'the daemon exits')), ...making.map((m) => m.done)]);
  }

  /** Spares an earlier daemon left (none of them can be claimed now): their containers and folders go. */
  async sweep(): Promise<void> {
    const left = await this.runtime.list({ [LABEL_HOME]: this.home.root, [LABEL_SPARE]: '1' });
    const store = new RunStore(this.home);
    for (const c of left) {
      const id = c.labels[LABEL_RUN_ID] ?? '';
      if (!RUN_ID_RE.test(id) || [...this.ready.values(), ...this.claimed.values()].some((s) => s.id === id)) continue;
      if (await store.read(id)) continue; // claimed: a run's container now
      await this.runtime.remove(c.id, true).catch(() => undefined);
      await rm(this.home.runDir(id), { recursive: true, force: true });
      this.log(`removed spare ${id} left by an earlier daemon`);
    }
  }

  /** moat-init's connection closed: a waiting spare ended (removed by hand, killed, out of memory). */
  private async gone(spare: Spare): Promise<void> {
    if (this.ready.get(spare.key) === spare) await this.drop(spare, 'its container ended');
    else if (this.claimed.get(spare.id) === spare) {
      // Its claimer owns it once it wrote the run's record (which then says what happened: moat-init exits
      // 75 without a go). A claimer that died before that left a container and a folder nothing else
      // removes (moat clean takes the container as an orphan, never the folder; no sweep would find it).
      this.claimed.delete(spare.id);
      clearTimeout(spare.timer);
      clearInterval(spare.claimer);
      this.closeSocket(spare);
      if (!(await new RunStore(this.home).read(spare.id).catch(() => undefined))) {
        await this.discard(spare);
        this.log(`spare ${spare.id} removed: claimed, never started`);
      }
    }
  }

  private async drop(spare: Spare, why: string): Promise<void> {
    if (this.ready.get(spare.key) === spare) this.ready.delete(spare.key);
    clearTimeout(spare.timer);
    await this.discard(spare);
    this.log(`spare ${spare.id} removed: ${why}`);
  }

  private async discard(spare: Spare): Promise<void> {
    spare.conn?.destroy();
    this.closeSocket(spare);
    if (spare.containerId) await this.runtime.remove(spare.containerId, true).catch(() => undefined);
    await rm(this.home.runDir(spare.id), { recursive: true, force: true });
  }

  private closeSocket(spare: Spare): void {
    spare.server.close();
    void rm(join(this.home.runDir(spare.id), 'net', 'go.sock'), { force: true });
  }
}
