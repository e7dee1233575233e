import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineName } from '../runtime/engine.js';
import type { EngineRuntimeInfo } from '../runtime/sandbox.js';

/** The engine's runtimes as `ContainerRuntime.runtimes()` gives them (a run's sandbox is chosen from them). */
export interface EngineRuntimes {
  defaultRuntime: string;
  runtimes: Record<string, EngineRuntimeInfo>;
  address: string;
  /** The CPUs the engine has (a container may use at most these). */
  cpus?: number;
  /** The engine that listed them (absent: Docker). */
  engine?: EngineName;
}

/** What the cache needs from the engine: its runtimes (GET /info) and its own events. */
export interface EngineSource {
  runtimes(): Promise<EngineRuntimes>;
  /** The engine's `daemon` events (a configuration reload); the stream ends when the engine goes away. */
  engineEvents(): Promise<Readable>;
}

/**
 * The engine's runtime list, kept by the long-lived daemon so a run's start-up does not ask the engine
 * (GET /info: 40–60 ms on a quiet machine, hundreds under load) every time. It is only served while the
 * daemon follows the engine's events: any `daemon` event (a reload, which may register or drop runsc)
 * drops it and asks again, and so does the end of the stream (the engine restarted or went away); until
 * the stream is back nothing is served and the CLI asks the engine itself.
 */
export class EngineRuntimesCache {
  private current: EngineRuntimes | undefined;
  private generation = 0;
  private stopped = false;
  private events: Readable | undefined;

  constructor(
    private readonly source: EngineSource,
    private readonly log: (m: string) => void,
    private readonly retryMs = 2000,
  ) {}

  /** The cached list, or undefined when the daemon cannot vouch for it right now. */
  get(): EngineRuntimes | undefined {
    return this.current;
  }

  /** Follow the engine until stop(); never rejects. */
  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.current = undefined;
    this.events?.destroy();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        // Subscribe first, then ask: a reload between the two is then seen as an event, never missed.
        const events = await this.source.engineEvents();
        this.events = events;
        // Following the engine never keeps the daemon alive by itself.
        (events as { socket?: { unref?: () => void } }).socket?.unref?.();
        if (this.stopped) events.destroy();
        this.refresh();
        await new Promise<void>((resolve) => {
          events.on('data', () => this.refresh());
          events.once('end', resolve);
          events.once('close', resolve);
          events.once('error', () => resolve());
        });
      } catch (err) {
        this.log(`engine runtimes: cannot follow the engine's events: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.generation++;
      this.current = undefined;
      if (!this.stopped) await sleep(this.retryMs, undefined, { ref: false });
    }
  }

  /** Drop the list and ask the engine again; an answer overtaken by a newer event is not kept. */
  private refresh(): void {
    const gen = ++this.generation;
    this.current = undefined;
    this.source.runtimes().then(
      (r) => {
        if (gen === this.generation && !this.stopped) this.current = r;
      },
      (err: unknown) => this.log(`engine runtimes: GET /info failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
}
