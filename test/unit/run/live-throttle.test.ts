import { describe, expect, it } from 'vitest';
import { LiveThrottle } from '../../../src/run/live-throttle.js';

describe('live lines are rate-limited', () => {
  it('a burst, then one line a second; held lines become one "and N more" line', () => {
    let t = 0;
    const th = new LiveThrottle({ burst: 3, perSecond: 1, now: () => t, more: (n) => `and ${n} more` });
    const out: string[] = [];
    for (let i = 0; i < 10; i++) out.push(...th.offer(`host${i}`));
    expect(out).toEqual(['host0', 'host1', 'host2']);
    expect(th.tick()).toEqual([]);
    t = 1000;
    expect(th.tick()).toEqual(['and 7 more']);
    expect(th.tick()).toEqual([]);
    t = 2000;
    expect(th.offer('host10')).toEqual(['host10']);
  });

  it('a flood of new hosts for a minute prints about one line a second', () => {
    let t = 0;
    const th = new LiveThrottle({ burst: 5, perSecond: 1, now: () => t, more: (n) => `and ${n} more` });
    let printed = 0;
    for (; t < 60_000; t += 1) printed += th.offer(`h${t}`).length;
    expect(printed).toBeLessThanOrEqual(5 + 60);
    expect(printed).toBeGreaterThan(30);
  });
});
