import { describe, expect, it } from 'vitest';
import type { AuditEntry, AuditType, JsonObject } from '../../../src/audit/index.js';
import { Timeline, summarizeEntry } from '../../../src/cli/audit-timeline.js';

let seq = 0;
const entry = (type: AuditType, data: JsonObject, ts = '2026-12-02T10:00:01.234Z'): AuditEntry => ({ seq: ++seq, ts, type, data, prev: null, hash: 'h' });

describe('moat audit --events: the timeline', () => {
  it('says in one line what each kind of entry records', () => {
    expect(summarizeEntry(entry('lifecycle', { event: 'created', name: 'demo', workspace: '/w', command: ['sh', '-c', 'echo hi'], createdAt: 'x' }))).toBe(
      'created demo in /w: sh -c echo hi',
    );
    expect(summarizeEntry(entry('lifecycle', { event: 'image', image: 'moat/x:1' }))).toBe('image moat/x:1');
    expect(summarizeEntry(entry('lifecycle', { event: 'stopped', exitCode: 3 }))).toBe('stopped, exit code 3');
    expect(summarizeEntry(entry('console', { ts: 't', stream: 'stderr', line: 'oops' }))).toBe('stderr: oops');
    expect(
      summarizeEntry(entry('network', { type: 'request', method: 'GET', url: 'https://example.test/a', host: 'example.test', status: 200, grant: 'github' })),
    ).toBe('GET 200 https://example.test/a grant=github');
    expect(
      summarizeEntry(
        entry('network', { type: 'request', method: 'CONNECT', url: 'evil.test:443', host: 'evil.test', status: 403, blocked: true, reason: 'not allowed' }),
      ),
    ).toBe('CONNECT 403 BLOCKED evil.test:443 reason: not allowed');
    expect(summarizeEntry(entry('credential', { grant: 'github', host: 'api.github.com' }))).toBe('grant github used for api.github.com');
    expect(summarizeEntry(entry('lifecycle', { event: 'something-new', a: 1 }))).toBe('something-new a=1');
  });

  it('keeps every entry on one bounded line, whatever a run printed', () => {
    const s = summarizeEntry(entry('console', { stream: 'stdout', line: `a\nb\r\n${'x'.repeat(1000)}` }));
    expect(s).not.toMatch(/[\r\n]/);
    expect(s.length).toBeLessThanOrEqual(160);
    expect(s.startsWith('stdout: a⏎b⏎x')).toBe(true);
  });

  it('prints the day when it changes, then seq, time of day, type and summary', () => {
    const t = new Timeline((x) => x);
    seq = 0;
    const a = t.line(entry('lifecycle', { event: 'started', startedAt: 'x' }, '2026-12-01T23:59:59.900Z'));
    const b = t.line(entry('console', { stream: 'stdout', line: 'hi' }, '2026-12-01T23:59:59.950Z'));
    const c = t.line(entry('lifecycle', { event: 'stopped', exitCode: 0 }, '2026-12-02T00:00:00.010Z'));
    expect(a).toBe('── 2026-12-01 (UTC)\n     1  23:59:59.900  lifecycle   started\n');
    expect(b).toBe('     2  23:59:59.950  console     stdout: hi\n');
    expect(c).toBe('── 2026-12-02 (UTC)\n     3  00:00:00.010  lifecycle   stopped, exit code 0\n');
  });
});
