import { describe, expect, it } from 'vitest';
import { diffSettings, displayText, fullLines, summaryLines, yamlLines } from '../../../src/run/trust-summary.js';
import { guardedSettings, type MountEntry } from '../../../src/run/trust-settings.js';

const opts = { homeDir: '/home/u' };
const ssh: MountEntry = { spec: '~/.ssh:/home/moat/.ssh:ro', source: '/home/u/.ssh', target: '/home/moat/.ssh', readOnly: true };
const hosts = (n: number): string[] => Array.from({ length: n }, (_, i) => `h${i}.example.com`);

describe('the approval diff', () => {
  it('a line diff per changed setting (- old / + new), the dangerous kinds first, long lists folded', () => {
    const before = guardedSettings({ network: { rules: ['a.com'] } }, []);
    const after = guardedSettings({ network: { rules: ['a.com', ...hosts(400)] }, grants: ['github'], dependencies: ['node@20'] }, [ssh]);
    const { lines, folded } = summaryLines(diffSettings(before, after, opts), opts);
    expect(lines).toEqual([
      '  mounts:',
      '+   - ~/.ssh → /home/moat/.ssh, read-only',
      '  grants:',
      '+   - github',
      '  dependencies:',
      '+   - node@20',
      '  network.rules:',
      '+   - h0.example.com',
      '+   - h1.example.com',
      '+   - h2.example.com',
      '+   … 397 more',
    ]);
    expect(folded).toBe(true);
  });

  it('400 harmless rules cannot push a new mount off the screen', () => {
    const after = guardedSettings({ network: { rules: hosts(400), deny: hosts(300) } }, [ssh]);
    const { lines } = summaryLines(diffSettings(undefined, after, opts), opts);
    expect(lines.slice(0, 2)).toEqual(['  mounts:', '+   - ~/.ssh → /home/moat/.ssh, read-only']);
    expect(lines.length).toBe(12);
    expect(lines.every((l) => l.length < 300)).toBe(true);
  });

  it('removals, scalars, plugins, marketplaces and a redirected mount read as YAML, never as JSON', () => {
    const data: MountEntry = { spec: './cfg/data:/data', source: '/ws/cfg/data', target: '/data', readOnly: false };
    const before = guardedSettings({ grants: ['github', 'npm'], network: { policy: 'strict' } }, [data]);
    const after = guardedSettings(
      {
        base_image: 'ubuntu:24.04',
        claude: { plugins: { 'x@m': true }, marketplaces: { m: { source: 'github', repo: 'a/b' } } },
      },
      [{ ...data, source: '/', outside: true }],
    );
    const lines = summaryLines(diffSettings(before, after, opts), opts).lines;
    expect(lines).toEqual([
      '  mounts:',
      '-   - /ws/cfg/data → /data, writable',
      '+   - / → /data, writable; ./cfg/data is in the workspace but resolves outside it',
      '  grants:',
      '-   - github',
      '-   - npm',
      '+ base_image: ubuntu:24.04',
      '  claude.plugins:',
      '+   x@m: true',
      '  claude.marketplaces:',
      '+   m:',
      '+     repo: a/b',
      '+     source: github',
      '- network.policy: strict',
      '+ network.policy: permissive',
    ]);
    expect(lines.join('\n')).not.toMatch(/[{}[\]"]/);
  });

  it('a host with its own rules is one entry: the host, then its rules as a nested list', () => {
    const after = guardedSettings({ network: { rules: [{ 'api.github.com': ['allow GET /repos/**', 'deny *'] }] } }, []);
    expect(fullLines(diffSettings(undefined, after, opts), opts)).toEqual([
      '  network.rules:',
      '+   - api.github.com:',
      '+       - allow GET /repos/**',
      '+       - deny *',
    ]);
  });

  it('a long entry is cut in the question (with a note), whole in moat trust show', () => {
    const rules = Array.from({ length: 10 }, (_, i) => `allow GET /r${i}`);
    const after = guardedSettings({ network: { rules: [{ 'api.github.com': rules }] } }, []);
    const { lines, folded } = summaryLines(diffSettings(undefined, after, opts), opts);
    expect(lines).toEqual(['  network.rules:', '+   - api.github.com:', '+       - allow GET /r0', '+       - allow GET /r1', '+     … 8 more lines']);
    expect(folded).toBe(true);
    expect(fullLines(diffSettings(undefined, after, opts), opts)).toHaveLength(12);
  });

  it('a scalar set for the first time is one + line; one going back to unset is one - line', () => {
    expect(fullLines(diffSettings(undefined, guardedSettings({ container: { pids: 100000 } }, []), opts), opts)).toEqual(['+ container.pids: 100000']);
    expect(fullLines(diffSettings(guardedSettings({ base_image: 'x:1' }, []), guardedSettings({}, []), opts), opts)).toEqual(['- base_image: x:1']);
  });

  it('a workspace source that resolves outside the workspace says so', () => {
    const m: MountEntry = { spec: './cfg:/cfg:ro', source: '/etc', target: '/cfg', readOnly: true, outside: true };
    expect(summaryLines(diffSettings(undefined, guardedSettings({}, [m]), opts), opts).lines).toEqual([
      '  mounts:',
      '+   - /etc → /cfg, read-only; ./cfg is in the workspace but resolves outside it',
    ]);
  });

  it('control and bidi characters from the file are escaped, long values cut', () => {
    expect(displayText('a\u001b[2Jb\u202ec\nd')).toBe('a\\u{1b}[2Jb\\u{202e}c\\u{a}d');
    expect(displayText('x'.repeat(500)).length).toBe(100);
    const { lines } = summaryLines(diffSettings(undefined, guardedSettings({ grants: ['gh\u001b]0;pwn\u0007'] }, []), opts), opts);
    expect(lines).toEqual(['  grants:', '+   - gh\\u{1b}]0;pwn\\u{7}']);
    expect(yamlLines({ 'k\nx: injected': 'v' })).toEqual(['k\\u{a}x: injected: v']);
  });

  it('moat trust show lists every entry', () => {
    const lines = fullLines(diffSettings(undefined, guardedSettings({ network: { rules: hosts(5) } }, [ssh]), opts), opts);
    expect(lines).toEqual(['  mounts:', '+   - ~/.ssh → /home/moat/.ssh, read-only', '  network.rules:', ...hosts(5).map((h) => `+   - ${h}`)]);
  });
});
