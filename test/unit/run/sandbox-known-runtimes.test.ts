import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveRunSandbox } from '../../../src/run/sandbox-choice.js';
import { MoatHome } from '../../../src/home/paths.js';
import type { ContainerRuntime } from '../../../src/runtime/types.js';
import type { EngineRuntimes } from '../../../src/daemon/engine-runtimes.js';

const RUNSC = { path: '/usr/bin/runsc', runtimeArgs: ['--network=none', '--host-uds=open'] };

/** An engine at `address` that has runsc registered; counts how often it is asked. */
function engine(address: string): ContainerRuntime & { asked: number } {
  const e = {
    kind: 'docker',
    address,
    asked: 0,
    runtimes() {
      e.asked++;
      return Promise.resolve({ defaultRuntime: 'runc', runtimes: { runc: {}, runsc: RUNSC }, address });
    },
  };
  return e as unknown as ContainerRuntime & { asked: number };
}

const home = (): MoatHome => new MoatHome(mkdtempSync(join(tmpdir(), 'moat-sandbox-known-')));

describe("a run's sandbox from the daemon's list of the engine's runtimes", () => {
  it("uses the daemon's list of the same engine without asking the engine", async () => {
    const rt = engine('unix:///var/run/docker.sock');
    const known: EngineRuntimes = { defaultRuntime: 'runc', runtimes: { runc: {}, runsc: RUNSC }, address: 'unix:///var/run/docker.sock' };
    const choice = await resolveRunSandbox(home(), rt, undefined, () => undefined, Promise.resolve(known));
    expect(choice.sandbox).toBe('gvisor');
    expect(rt.asked).toBe(0);
  });

  it("asks the engine itself when the daemon's list is of another engine (a daemon started with another DOCKER_HOST)", async () => {
    const rt = engine('unix:///run/user/1000/docker.sock');
    const other: EngineRuntimes = { defaultRuntime: 'runc', runtimes: { runc: {} }, address: 'unix:///var/run/docker.sock' };
    const choice = await resolveRunSandbox(home(), rt, undefined, () => undefined, Promise.resolve(other));
    expect(rt.asked).toBe(1);
    expect(choice.sandbox).toBe('gvisor');
  });

  it('asks the engine itself when the daemon has no list (or its look failed)', async () => {
    const rt = engine('unix:///var/run/docker.sock');
    await resolveRunSandbox(home(), rt, undefined, () => undefined, Promise.resolve(undefined));
    await resolveRunSandbox(home(), rt, undefined, () => undefined, Promise.reject(new Error('daemon absent')));
    expect(rt.asked).toBe(2);
  });
});
