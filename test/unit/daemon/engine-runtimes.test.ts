import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EngineRuntimesCache, type EngineRuntimes, type EngineSource } from '../../../src/daemon/engine-runtimes.js';

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

/** A fake engine: its runtimes are whatever `current` says; each events subscription is a stream the test drives. */
function fakeEngine(): EngineSource & { current: EngineRuntimes; streams: PassThrough[]; infoCalls: number; hold?: Promise<void> } {
  const e = {
    current: { defaultRuntime: 'runc', runtimes: { runc: {} }, address: 'unix:///var/run/docker.sock' } as EngineRuntimes,
    streams: [] as PassThrough[],
    infoCalls: 0,
    hold: undefined as Promise<void> | undefined,
    async runtimes(): Promise<EngineRuntimes> {
      e.infoCalls++;
      const answer = structuredClone(e.current);
      if (e.hold) await e.hold;
      return answer;
    },
    async engineEvents(): Promise<PassThrough> {
      const s = new PassThrough();
      e.streams.push(s);
      return Promise.resolve(s);
    },
  };
  return e;
}

describe('the daemon keeps the engine runtime list only while it follows the engine', () => {
  it('serves the list once asked, and asks again after the engine reloads its configuration (runsc registered)', async () => {
    const engine = fakeEngine();
    const cache = new EngineRuntimesCache(engine, () => undefined, 10);
    cache.start();
    await until(() => cache.get() !== undefined);
    expect(Object.keys(cache.get()?.runtimes ?? {})).toEqual(['runc']);
    engine.current = { ...engine.current, runtimes: { runc: {}, runsc: { path: '/usr/bin/runsc' } } };
    engine.streams[0]?.write('{"Type":"daemon","Action":"reload"}\n');
    await until(() => cache.get()?.runtimes.runsc !== undefined);
    expect(engine.infoCalls).toBe(2);
    cache.stop();
  });

  it('serves nothing once the event stream ends (the engine restarted), until it follows the engine again', async () => {
    const engine = fakeEngine();
    const cache = new EngineRuntimesCache(engine, () => undefined, 50);
    cache.start();
    await until(() => cache.get() !== undefined);
    engine.current = { ...engine.current, runtimes: {} };
    engine.streams[0]?.end();
    await until(() => cache.get() === undefined);
    await until(() => engine.streams.length === 2 && cache.get() !== undefined);
    expect(cache.get()?.runtimes).toEqual({});
    cache.stop();
    expect(cache.get()).toBeUndefined();
  });

  it('does not keep an answer that a reload overtook', async () => {
    const engine = fakeEngine();
    let release!: () => void;
    engine.hold = new Promise<void>((r) => (release = r));
    const cache = new EngineRuntimesCache(engine, () => undefined, 10);
    cache.start();
    await until(() => engine.infoCalls === 1);
    // The first answer (runc only) is still on its way when the engine reloads with runsc.
    engine.current = { ...engine.current, runtimes: { runc: {}, runsc: {} } };
    engine.streams[0]?.write('{"Type":"daemon","Action":"reload"}\n');
    await until(() => engine.infoCalls === 2);
    release();
    await until(() => cache.get() !== undefined);
    expect(Object.keys(cache.get()?.runtimes ?? {}).sort()).toEqual(['runc', 'runsc']);
    cache.stop();
  });
});
