import { describe, it, expect } from 'vitest';
import { OutputBudget } from '../../../src/daemon/output-budget.js';

describe('hostile output: the audit log records output up to the limit, then says so once', () => {
  it('records entries until the limit, reports reaching it once, then nothing', () => {
    const b = new OutputBudget(1000);
    const got = Array.from({ length: 8 }, () => b.take(300));
    expect(got).toEqual(['record', 'record', 'record', 'reached', 'over', 'over', 'over', 'over']);
  });
  it('a run resumed after its output passed the limit records no more console entries and no second event', () => {
    expect(new OutputBudget(1000, true).take(1)).toBe('over');
  });
  it('a run taken over by another daemon counts what its audit log already holds', () => {
    const b = new OutputBudget(1000, false, 800);
    expect([b.take(150), b.take(150), b.take(150)]).toEqual(['record', 'reached', 'over']);
  });
});
