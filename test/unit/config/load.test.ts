import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadGlobalConfig, loadWorkspaceConfig, parseMount } from '../../../src/config/load.js';
import { errorOf, workspace } from './helpers.js';

const FULL = `# yaml-language-server: $schema=../schema/moat.schema.json
name: my-agent
command: ["claude", "--help"]
interactive: true
env:
  LOG_LEVEL: debug
  _PRIVATE: "1"
mounts:
  - ./data:/data:ro
  - /var/cache:/cache
  - ~/notes:/notes:rw
base_image: ubuntu:24.04
container:
  memory: 2g
  cpus: 1.5
dependencies: [node@20, python]
grants: [github, anthropic]
network:
  policy: strict
  rules:
    - api.anthropic.com
    - api.github.com:
        - allow GET /repos/**
        - deny * /**
  deny: [evil.example.com]
claude:
  version: 2.1.0
  mcp:
    fs:
      command: npx
      args: [-y, "@modelcontextprotocol/server-filesystem"]
      env: { DEBUG: "1" }
      cwd: /workspace
  plugins: { "reviewer@market": true }
  marketplaces: { market: { source: github, repo: org/market } }
  sync_logs: true
codex:
  version: 0.169.0
  mcp:
    git: { command: git-mcp }
  sync_logs: false
`;

describe('loadWorkspaceConfig', () => {
  it('loads and normalises a full moat.yaml', async () => {
    const dir = await workspace({ 'moat.yaml': FULL });
    const { config, raw, file } = await loadWorkspaceConfig(dir, { homeDir: '/home/u' });
    expect(file).toBe(path.join(dir, 'moat.yaml'));
    expect(config.name).toBe('my-agent');
    expect(config.command).toEqual(['claude', '--help']);
    expect(config.interactive).toBe(true);
    expect(config.env).toEqual({ LOG_LEVEL: 'debug', _PRIVATE: '1' });
    expect(config.mounts).toEqual([
      { source: path.join(dir, 'data'), target: '/data', readOnly: true },
      { source: '/var/cache', target: '/cache', readOnly: false },
      { source: '/home/u/notes', target: '/notes', readOnly: false },
    ]);
    expect(config.container).toEqual({ memory: '2g', cpus: 1.5 });
    expect(config.network?.rules).toEqual(['api.anthropic.com', { 'api.github.com': ['allow GET /repos/**', 'deny * /**'] }]);
    expect(config.claude?.mcp?.fs?.args).toEqual(['-y', '@modelcontextprotocol/server-filesystem']);
    expect(config.codex?.mcp?.git).toEqual({ command: 'git-mcp' });
    expect(raw.mounts?.[0]).toBe('./data:/data:ro');
  });

  it('falls back to agent.yaml', async () => {
    const dir = await workspace({ 'agent.yaml': 'name: legacy\nenv: ["A=1", "B=x=y"]\n' });
    const { config, file } = await loadWorkspaceConfig(dir);
    expect(file).toBe(path.join(dir, 'agent.yaml'));
    expect(config.name).toBe('legacy');
    expect(config.env).toEqual({ A: '1', B: 'x=y' });
  });

  it('prefers moat.yaml over agent.yaml', async () => {
    const dir = await workspace({ 'moat.yaml': 'name: new\n', 'agent.yaml': 'name: old\n' });
    expect((await loadWorkspaceConfig(dir)).config.name).toBe('new');
  });

  it('returns an empty config when there is no file', async () => {
    const dir = await workspace();
    expect(await loadWorkspaceConfig(dir)).toEqual({ config: { env: {}, mounts: [] }, raw: {}, file: undefined });
  });

  it('treats an empty or comment-only file as an empty config', async () => {
    const dir = await workspace({ 'moat.yaml': '# nothing yet\n' });
    const { config, file } = await loadWorkspaceConfig(dir);
    expect(config).toEqual({ env: {}, mounts: [] });
    expect(file).toBe(path.join(dir, 'moat.yaml'));
  });

  it('resolves relative mount sources against the workspace', async () => {
    const dir = await workspace({ 'moat.yaml': 'mounts:\n  - ../shared:/shared\n  - .:/src:ro\n' });
    const { config } = await loadWorkspaceConfig(dir);
    expect(config.mounts).toEqual([
      { source: path.resolve(dir, '..', 'shared'), target: '/shared', readOnly: false },
      { source: dir, target: '/src', readOnly: true },
    ]);
  });

  it('reports the file name agent.yaml in errors from the fallback', async () => {
    const dir = await workspace({ 'agent.yaml': 'interactive: maybe\n' });
    expect(await errorOf(loadWorkspaceConfig(dir))).toContain('agent.yaml:1:14: interactive: expected true or false, got string "maybe"');
  });
});

describe('parseMount', () => {
  it('parses read-only and read-write mounts', () => {
    expect(parseMount('src:/dst:ro', '/ws')).toEqual({ source: '/ws/src', target: '/dst', readOnly: true });
    expect(parseMount('/abs:/dst', '/ws')).toEqual({ source: '/abs', target: '/dst', readOnly: false });
  });

  it('rejects malformed specs', () => {
    expect(() => parseMount('just-a-path', '/ws')).toThrow(/source:target/);
    expect(() => parseMount('a:relative', '/ws')).toThrow(/absolute/);
    expect(() => parseMount('a:/b:rx', '/ws')).toThrow(/"ro" or "rw"/);
  });
});

describe('loadGlobalConfig', () => {
  it('returns an empty config for a missing file', async () => {
    const dir = await workspace();
    expect(await loadGlobalConfig(path.join(dir, 'config.yaml'))).toEqual({});
  });

  it('loads proxy and build settings, resolving ca_certs against the file', async () => {
    const dir = await workspace({ 'config.yaml': 'proxy:\n  upstream: http://proxy.corp:3128\nbuild:\n  ca_certs: certs/corp.pem\n' });
    expect(await loadGlobalConfig(path.join(dir, 'config.yaml'))).toEqual({
      proxy: { upstream: 'http://proxy.corp:3128' },
      build: { ca_certs: path.join(dir, 'certs', 'corp.pem') },
    });
  });

  it('rejects a bad proxy URL with its position', async () => {
    const dir = await workspace({ 'config.yaml': 'proxy:\n  upstream: not a url\n' });
    const file = path.join(dir, 'config.yaml');
    expect(await errorOf(loadGlobalConfig(file))).toContain(`${file}:2:13: proxy.upstream: expected a URL`);
  });
});
