/**
 * A CPU limit above the engine's CPU count is refused before anything is created, with the count and the
 * fix: for --cpus the flag, for moat.yaml its FILE:LINE:COL. The engine's count comes from GET /info
 * (NCPU), through the daemon's cached list of this engine or the engine itself.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { checkCpuLimit } from '../../../src/run/cpu-limit.js';
import { engineFacts } from '../../../src/run/sandbox-choice.js';
import type { ContainerRuntime } from '../../../src/runtime/types.js';

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'moat-cpus-'))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

const refusal = async (p: Promise<void>): Promise<MoatError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MoatError);
  return err as MoatError;
};

describe('checkCpuLimit', () => {
  it('at or under the count, or with no limit or no count known: nothing to say', async () => {
    await checkCpuLimit(8e9, { flag: true }, 8);
    await checkCpuLimit(0.5e9, { flag: true }, 1);
    await checkCpuLimit(undefined, undefined, 2);
    await checkCpuLimit(64e9, { flag: true }, undefined);
  });

  it('--cpus above the count: one sentence with the count, and the flag that fits', async () => {
    const e = await refusal(checkCpuLimit(12.5e9, { flag: true }, 8));
    expect(e.message).toBe('--cpus 12.5 asks for more CPUs than the engine has 8 CPUs.');
    expect(e.hint).toBe('Use --cpus 8 or less.');
    expect((await refusal(checkCpuLimit(2e9, { flag: true }, 1))).message).toBe('--cpus 2 asks for more CPUs than the engine has 1 CPU.');
  });

  it('container.cpus above the count: at moat.yaml:LINE:COL, with the setting that fits', async () => {
    const file = join(dir, 'moat.yaml');
    await writeFile(file, '# resources\ncontainer:\n  memory: 2g\n  cpus: 64\n');
    const e = await refusal(checkCpuLimit(64e9, { file }, 4));
    expect(e.message).toBe('moat.yaml:4:9: container.cpus: 64 is more CPUs than the engine has 4 CPUs.');
    expect(e.hint).toBe('Set container.cpus to 4 or less in moat.yaml, or override it with --cpus 4.');
    // The file gone meanwhile: still the same sentence, without a position.
    await rm(file);
    expect((await refusal(checkCpuLimit(64e9, { file }, 4))).message).toBe('moat.yaml: container.cpus: 64 is more CPUs than the engine has 4 CPUs.');
  });
});

describe('engineFacts', () => {
  const runtime = (cpus: number | undefined, address = 'unix:///e.sock'): ContainerRuntime =>
    ({
      address,
      runtimes: () => Promise.resolve({ defaultRuntime: 'runc', runtimes: { runc: {} }, address, ...(cpus ? { cpus } : {}) }),
    }) as unknown as ContainerRuntime;

  it("carries the engine's CPU count from the daemon's list of the same engine, else from the engine", async () => {
    const known = { defaultRuntime: 'runc', runtimes: {}, address: 'unix:///e.sock', cpus: 3 };
    expect((await engineFacts(runtime(16), Promise.resolve(known))).cpus).toBe(3);
    expect((await engineFacts(runtime(16, 'unix:///other.sock'), Promise.resolve(known))).cpus).toBe(16);
    expect((await engineFacts(runtime(16), Promise.resolve(undefined))).cpus).toBe(16);
  });
});
