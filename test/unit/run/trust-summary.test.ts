import { describe, expect, it } from 'vitest';
import { diffSettings, displayText, fullLines, summaryLines } from '../../../src/run/trust-summary.js';
import { guardedSettings, type MountEntry } from '../../../src/run/trust-settings.js';

const opts = { homeDir: '/home/u' };
const ssh: MountEntry = { spec: '~/.ssh:/home/moat/.ssh:ro', source: '/home/u/.ssh', target: '/home/moat/.ssh', readOnly: true };
const hosts = (n: number): string[] => Array.from({ length: n }, (_, i) => `h${i}.example.com`);

describe('the approval summary', () => {
  it('one line per changed setting with counts, the dangerous kinds first, long lists folded', () => {
    const before = guardedSettings({ network: { rules: ['a.com'] } }, []);
    const after = guardedSettings({ network: { rules: ['a.com', ...hosts(400)] }, grants: ['github'], dependencies: ['node@20'] }, [ssh]);
    const { lines, folded } = summaryLines(diffSettings(before, after, opts), opts);
    expect(lines).toEqual([
      'mounts: +1 (~/.ssh → /home/moat/.ssh, read-only)',
      'grants: +1 (github)',
      'dependencies: +1 (node@20)',
      'network.rules: +400 hosts (h0.example.com; h1.example.com; h2.example.com; … 397 more)',
    ]);
    expect(folded).toBe(true);
  });

  it('400 harmless rules cannot push a new mount off the screen', () => {
    const after = guardedSettings({ network: { rules: hosts(400), deny: hosts(300) } }, [ssh]);
    const { lines } = summaryLines(diffSettings(undefined, after, opts), opts);
    expect(lines[0]).toBe('mounts: +1 (~/.ssh → /home/moat/.ssh, read-only)');
    expect(lines.length).toBe(3);
    expect(lines.every((l) => l.length < 300)).toBe(true);
  });

  it('removals, scalars, plugins and a redirected mount read plainly', () => {
    const data: MountEntry = { spec: './cfg/data:/data', source: '/ws/cfg/data', target: '/data', readOnly: false };
    const before = guardedSettings({ grants: ['github', 'npm'], network: { policy: 'strict' } }, [data]);
    const after = guardedSettings({ base_image: 'ubuntu:24.04', claude: { plugins: { 'x@m': true } } }, [{ ...data, source: '/', outside: true }]);
    expect(summaryLines(diffSettings(before, after, opts), opts).lines).toEqual([
      'mounts: ./cfg/data now resolves to / (approved: /ws/cfg/data)',
      'grants: -2 (github; npm)',
      'base_image: (not set) → ubuntu:24.04',
      'claude.plugins: +1 (x@m (enabled))',
      'network.policy: strict → permissive',
    ]);
  });

  it('a workspace source that resolves outside the workspace says so', () => {
    const m: MountEntry = { spec: './cfg:/cfg:ro', source: '/etc', target: '/cfg', readOnly: true, outside: true };
    expect(summaryLines(diffSettings(undefined, guardedSettings({}, [m]), opts), opts).lines).toEqual([
      'mounts: +1 (/etc → /cfg, read-only; ./cfg is in the workspace but resolves outside it)',
    ]);
  });

  it('control and bidi characters from the file are escaped, long values cut', () => {
    expect(displayText('a\u001b[2Jb\u202ec\nd')).toBe('a\\u{1b}[2Jb\\u{202e}c\\u{a}d');
    expect(displayText('x'.repeat(500)).length).toBe(100);
    const { lines } = summaryLines(diffSettings(undefined, guardedSettings({ grants: ['gh\u001b]0;pwn\u0007'] }, []), opts), opts);
    expect(lines).toEqual(['grants: +1 (gh\\u{1b}]0;pwn\\u{7})']);
  });

  it('moat trust show lists every entry', () => {
    const lines = fullLines(diffSettings(undefined, guardedSettings({ network: { rules: hosts(5) } }, [ssh]), opts), opts);
    expect(lines).toEqual([
      'mounts:', '  + ~/.ssh → /home/moat/.ssh, read-only',
      'network.rules:', ...hosts(5).map((h) => `  + ${h}`),
    ]);
  });
});
