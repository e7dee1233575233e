import { describe, expect, it } from 'vitest';
import { inTurn } from '../../../src/daemon/walk-turns.js';

/** A walk that runs until released, recording when it starts. */
function gate(log: string[], name: string): { work: () => Promise<string>; release: () => void } {
  let release = (): void => undefined;
  const done = new Promise<void>((r) => (release = r));
  return {
    work: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
      return name;
    },
    release: () => release(),
  };
}
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("the daemon's workspace walks", () => {
  it('run at most two at once; a third waits for a slot', async () => {
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => gate(log, n)) as [ReturnType<typeof gate>, ReturnType<typeof gate>, ReturnType<typeof gate>];
    const runs = [inTurn('/ws/a', a.work), inTurn('/ws/b', b.work), inTurn('/ws/c', c.work)];
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    b.release();
    await settle();
    await settle();
    expect(log).toEqual(['start a', 'start b', 'end b', 'start c']);
    a.release();
    c.release();
    expect(await Promise.all(runs)).toEqual(['a', 'b', 'c']);
  });

  it('a post-run and a pre-run walk of one workspace never overlap: the second starts when the first ends', async () => {
    const log: string[] = [];
    const post = gate(log, 'post');
    const pre = gate(log, 'pre');
    const first = inTurn('/ws/same', post.work);
    const second = inTurn('/ws/same', pre.work);
    await settle();
    expect(log).toEqual(['start post']);
    post.release();
    await first;
    await settle();
    expect(log).toEqual(['start post', 'end post', 'start pre']);
    pre.release();
    expect(await second).toBe('pre');
  });

  it('a failed walk frees its slot and does not fail the next walk of its workspace', async () => {
    await expect(inTurn('/ws/x', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await inTurn('/ws/x', async () => 'ok')).toBe('ok');
    const many = await Promise.all([1, 2, 3, 4].map((i) => inTurn(`/ws/${i}`, async () => i)));
    expect(many).toEqual([1, 2, 3, 4]);
  });
});
