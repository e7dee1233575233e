import { describe, it, expect } from 'vitest';
import { BodySample, traceHeaders } from '../../../src/gateway/trace-bodies.js';

describe('trace bodies', () => {
  it('masks credential headers whatever their value', () => {
    expect(
      traceHeaders({ authorization: 'Bearer ghp_x', 'x-api-key': 'k', Cookie: 'a=b', accept: 'text/html', 'set-cookie': ['a', 'b'], via: undefined }),
    ).toEqual({ authorization: '[REDACTED]', 'x-api-key': '[REDACTED]', Cookie: '[REDACTED]', accept: 'text/html', 'set-cookie': '[REDACTED]' });
  });
  it('keeps the first bytes of a body and says how much was cut', () => {
    const s = new BodySample(5);
    s.add(Buffer.from('abc'));
    s.add(Buffer.from('defgh'));
    expect(s.text()).toBe('abcde…[3 more bytes]');
    expect(new BodySample(5).text()).toBeUndefined();
  });
});
