import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { updateMarketplaces } from '../../../src/agents/claude/marketplace-update.js';
import { describeSource, redactUrl } from '../../../src/agents/claude/plugin-inventory.js';
import { MoatHome } from '../../../src/home/paths.js';

const put = async (file: string, v: unknown): Promise<void> => {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(v));
};

describe('marketplace update: what git is never asked to do', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'moat-mkt-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const update = async (sources: Record<string, unknown>) => {
    const host = join(root, 'host');
    const ws = join(root, 'ws');
    await mkdir(ws, { recursive: true });
    await put(join(host, '.claude', 'settings.json'), {
      extraKnownMarketplaces: Object.fromEntries(Object.entries(sources).map(([n, s]) => [n, { source: s }])),
    });
    return updateMarketplaces({ home: new MoatHome(join(root, 'moat')), workspace: ws, hostHome: host, env: { PATH: process.env.PATH ?? '' }, names: [] });
  };

  it("refuses git's command-running transports (ext::) and an option in place of a URL", async () => {
    const marker = join(root, 'pwned');
    const { results } = await update({
      ext: { source: 'git', url: `ext::sh -c touch% ${marker}` },
      opt: { source: 'git', url: `--upload-pack=touch ${marker}` },
      badref: { source: 'git', url: join(root, 'nowhere'), ref: '--upload-pack=x' },
      badrepo: { source: 'github', repo: '../../etc' },
    });
    expect(existsSync(marker)).toBe(false);
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['badref', 'failed'],
      ['badrepo', 'failed'],
      ['ext', 'failed'],
      ['opt', 'failed'],
    ]);
    expect(results.find((r) => r.name === 'ext')?.detail).toMatch(/^git: .*transport 'ext' not allowed/);
    expect(existsSync(join(root, 'host', '.claude', 'plugins', 'known_marketplaces.json'))).toBe(false);
  });

  it("a marketplace name cannot place its copy outside Claude Code's folder", async () => {
    const { results } = await update({ '../../escape': { source: 'git', url: join(root, 'nowhere') } });
    expect(results[0]?.status).toBe('failed');
    expect(results[0]?.cachedAt).toBe(join(root, 'host', '.claude', 'plugins', 'marketplaces', '_-..-escape'));
  });
});

describe('describeSource', () => {
  it('hides the user and password of a URL and names what carries a credential', () => {
    expect(redactUrl('https://x-access-token:ghp_SECRET@github.com/a/b.git')).toBe('https://***@github.com/a/b.git');
    expect(describeSource({ source: 'git', url: 'https://TOKEN@host/x.git', ref: 'main' })).toBe('git https://***@host/x.git#main (carries a credential)');
    expect(describeSource({ source: 'url', url: 'https://host/m.json', headers: { Authorization: 'Bearer SECRET' } })).toBe(
      'url https://host/m.json (carries a credential)',
    );
    expect(describeSource({ source: 'github', repo: 'acme/plugins' })).toBe('github acme/plugins');
  });
});
