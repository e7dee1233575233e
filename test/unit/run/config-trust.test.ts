import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { MoatHome } from '../../../src/home/paths.js';
import { checkConfigTrust } from '../../../src/run/config-trust.js';
import { changedSettings, guardedSettings, type MountEntry } from '../../../src/run/trust-settings.js';

let dir: string;
let home: MoatHome;
let ws: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'moat-trust-')));
  home = new MoatHome(join(dir, 'home'));
  ws = join(dir, 'project');
  await mkdir(ws);
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const mount = (spec: string, source: string, extra: Partial<MountEntry> = {}): MountEntry => {
  const [, target = '', mode] = spec.split(':');
  return { spec, source, target, readOnly: mode === 'ro', ...extra };
};
const guard = (raw: Parameters<typeof guardedSettings>[0], mounts: MountEntry[] = [], file = 'moat.yaml') => ({ file, settings: guardedSettings(raw, mounts) });
const opts = { approve: false, homeDir: '/home/u' };
const refusal = async (p: Promise<void>): Promise<MoatError> => {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MoatError);
  return err as MoatError;
};

describe('moat.yaml approval per workspace', () => {
  it('a record written before a key was guarded (secrets: {}) is not a change for a workspace that leaves it at its default', () => {
    const { secrets: _unset, ...recordedBefore } = guardedSettings({ grants: ['github'] }, []);
    expect(changedSettings(recordedBefore, guardedSettings({ grants: ['github'] }, []))).toEqual([]);
    expect(changedSettings(recordedBefore, guardedSettings({ grants: ['github'], secrets: { T: 'env://T' } }, []))).toEqual(['secrets']);
  });

  it('guards what reaches beyond the container, build settings included', () => {
    const a = guardedSettings({ env: { A: '1' }, grants: ['github'] }, []);
    expect(
      changedSettings(a, guardedSettings({ env: { A: '2' }, grants: ['github'], claude: { mcp: { x: { command: 'y' } } }, container: { cpus: 2 } }, [])),
    ).toEqual([]);
    expect(changedSettings(a, guardedSettings({ grants: ['github', 'openai'] }, []))).toEqual(['grants']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'] }, [mount('/:/host:ro', '/')]))).toEqual(['mounts']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], network: { policy: 'strict' } }, []))).toEqual(['network.policy']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], dependencies: ['node@20'], base_image: 'ubuntu:24.04' }, []))).toEqual([
      'base_image',
      'dependencies',
    ]);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], claude: { plugins: { 'x@m': true } } }, []))).toEqual(['claude.plugins']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], claude: { version: '2.1.0' }, codex: { version: '0.1.0' } }, []))).toEqual([
      'claude.version',
      'codex.version',
    ]);
    // The process limit keeps a fork bomb off the host: an agent raising it is a change; memory and CPU are not.
    expect(changedSettings(a, guardedSettings({ grants: ['github'], container: { pids: 4_194_304 } }, []))).toEqual(['container.pids']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], container: { memory: '64g', cpus: 8 } }, []))).toEqual([]);
    // Key order does not matter.
    expect(
      changedSettings(
        guardedSettings({ network: { policy: 'strict', rules: ['a.com'] } }, []),
        guardedSettings({ network: { rules: ['a.com'], policy: 'strict' } }, []),
      ),
    ).toEqual([]);
  });

  it('first sight: only in-container settings need nothing; host-reaching ones are refused without a terminal', async () => {
    await checkConfigTrust(home, ws, guard({ env: { A: '1' }, dependencies: [] }), opts);
    const other = join(dir, 'sub');
    await mkdir(other);
    const err = await refusal(checkConfigTrust(home, other, guard({}, [mount('~/.ssh:/home/moat/.ssh:ro', '/home/u/.ssh')]), opts));
    expect(err.message).toBe(
      `moat.yaml in ${other} sets mounts, which reach beyond the container, and nobody has approved them here yet:\n    mounts:\n  +   - ~/.ssh → /home/moat/.ssh, read-only`,
    );
    expect(err.hint).toBe(`Review them (moat trust show ${other}), then run again with --approve-config to accept them.`);
  });

  it('records an approval, lets identical settings through, refuses a change', async () => {
    await checkConfigTrust(home, ws, guard({ grants: ['github'] }), { ...opts, approve: true });
    await checkConfigTrust(home, ws, guard({ grants: ['github'] }), opts);
    const changed = guard({ grants: ['github'] }, [mount('~/.ssh:/stolen', '/home/u/.ssh')]);
    const err = await refusal(checkConfigTrust(home, ws, changed, opts));
    expect(err.message).toBe(
      `moat.yaml changed mounts since the last run in ${ws}, and an agent in a run can edit that file:\n    mounts:\n  +   - ~/.ssh → /stolen, writable`,
    );
    // Still refused next time: a refusal approves nothing.
    await expect(checkConfigTrust(home, ws, changed, opts)).rejects.toThrow(/changed mounts/);
  });

  it('a moat.yaml that appears where there was none is a change too', async () => {
    await checkConfigTrust(home, ws, { settings: guardedSettings({}, []) }, opts);
    await expect(checkConfigTrust(home, ws, guard({}, [mount('/:/host', '/')]), opts)).rejects.toThrow(/changed mounts/);
  });

  it('a mount whose text is unchanged but whose real source moved is named as such', async () => {
    await checkConfigTrust(home, ws, guard({}, [mount('./cfg/data:/data:ro', join(ws, 'cfg', 'data'))]), { ...opts, approve: true });
    const err = await refusal(checkConfigTrust(home, ws, guard({}, [mount('./cfg/data:/data:ro', '/etc', { outside: true })]), opts));
    expect(err.message).toBe(
      `A mount source in moat.yaml now resolves to another host path than the one approved in ${ws} (a run can replace a folder on the way with a symbolic link):\n` +
        `    mounts:\n  -   - ${join(ws, 'cfg', 'data')} → /data, read-only\n  +   - /etc → /data, read-only; ./cfg/data is in the workspace but resolves outside it`,
    );
  });

  it('--approve-config or a yes on the terminal records the new settings; a no starts nothing; the question comes last', async () => {
    await checkConfigTrust(home, ws, guard({}), opts);
    const asked: string[] = [];
    const no = async (q: string, d: string): Promise<boolean> => {
      asked.push(q, d);
      return false;
    };
    await expect(checkConfigTrust(home, ws, guard({ grants: ['openai'], network: { policy: 'strict' } }), { ...opts, confirm: no })).rejects.toThrow(
      'Not started: the grants and network.policy in moat.yaml were not approved.',
    );
    expect(asked[0]).toBe('Run with these settings?');
    expect(asked[1]).toBe(
      `moat.yaml changed grants and network.policy since the last run in ${ws}, and an agent in a run can edit that file:\n    grants:\n  +   - openai\n  - network.policy: permissive\n  + network.policy: strict`,
    );
    await checkConfigTrust(home, ws, guard({ grants: ['openai'] }), { ...opts, confirm: async () => true });
    await checkConfigTrust(home, ws, guard({ grants: ['openai'] }), opts);
    await checkConfigTrust(home, ws, guard({ grants: ['openai', 'github'] }), { ...opts, approve: true });
    await checkConfigTrust(home, ws, guard({ grants: ['openai', 'github'] }), opts);
  });

  it('workspaces are approved separately, keyed by their real path (a symlinked path is the same workspace)', async () => {
    const other = join(dir, 'other');
    await mkdir(other);
    await checkConfigTrust(home, ws, guard({ grants: ['github'] }), { ...opts, approve: true });
    await checkConfigTrust(home, other, guard({ grants: ['openai'] }), { ...opts, approve: true });
    await expect(checkConfigTrust(home, ws, guard({ grants: ['openai'] }), opts)).rejects.toThrow(/changed grants/);
    const link = join(dir, 'link');
    await symlink(ws, link);
    await checkConfigTrust(home, link, guard({ grants: ['github'] }), opts);
  });

  it('reads and migrates a record written by an older Moat', async () => {
    const { createHash } = await import('node:crypto');
    const file = join(home.root, 'trust', `${createHash('sha256').update(ws).digest('hex').slice(0, 32)}.json`);
    await mkdir(join(home.root, 'trust'), { recursive: true });
    const settings = {
      mounts: ['./data:/data:ro'],
      grants: ['github'],
      network: { policy: 'strict', rules: ['a.com'] },
      'claude.sync_logs': false,
      'claude.host_plugins': true,
      'claude.marketplaces': {},
      'codex.sync_logs': false,
    };
    await writeFile(file, JSON.stringify({ workspace: ws, settings, approvedAt: '2026-01-01T00:00:00.000Z' }));
    const now = guard({ grants: ['github'], network: { policy: 'strict', rules: ['a.com'] } }, [mount('./data:/data:ro', join(ws, 'data'))]);
    await checkConfigTrust(home, ws, now, opts);
    // A value the old record never held is shown once.
    await expect(
      checkConfigTrust(
        home,
        ws,
        guard({ ...{ grants: ['github'], network: { policy: 'strict', rules: ['a.com'] } }, dependencies: ['jq'] }, now.settings.mounts as MountEntry[]),
        opts,
      ),
    ).rejects.toThrow(/changed dependencies/);
  });
});

describe('hostile output: a run cannot raise its own log limit unseen', () => {
  it('container.log_limit is an approved setting; unset it is the default, so old approvals stay valid', () => {
    expect(guardedSettings({ container: { log_limit: '1t' } }, [])['container.log_limit']).toBe('1t');
    expect(guardedSettings({ container: { memory: '1g' } }, [])['container.log_limit']).toBeNull();
    expect(changedSettings(guardedSettings({}, []), guardedSettings({ container: { log_limit: '1t' } }, []))).toEqual(['container.log_limit']);
  });
});

describe('ports: an inbound path from the host is approved like mounts', () => {
  it('a run that adds or changes ports: in moat.yaml is a change; unset it is the default, so old approvals stay valid', () => {
    expect(guardedSettings({ ports: { web: 3000 } }, []).ports).toEqual({ web: 3000 });
    expect(changedSettings(guardedSettings({}, []), guardedSettings({ ports: { web: 3000 } }, []))).toEqual(['ports']);
    expect(changedSettings(guardedSettings({ ports: { web: 3000 } }, []), guardedSettings({ ports: { web: 3001 } }, []))).toEqual(['ports']);
    expect(changedSettings(guardedSettings({ ports: { web: 3000 } }, []), guardedSettings({ ports: { web: 3000, api: 22 } }, []))).toEqual(['ports']);
    // A record written before ports were guarded lacks the key: it stands at its default ({}).
    const { ports: _unset, ...recordedBefore } = guardedSettings({ grants: ['github'] }, []);
    expect(changedSettings(recordedBefore, guardedSettings({ grants: ['github'] }, []))).toEqual([]);
    expect(changedSettings(recordedBefore, guardedSettings({ grants: ['github'], ports: { web: 3000 } }, []))).toEqual(['ports']);
  });

  it('first sight asks, and a changed port shows a readable diff', async () => {
    const first = await refusal(checkConfigTrust(home, ws, guard({ ports: { web: 3000 } }), opts));
    expect(first.message).toBe(
      `moat.yaml in ${ws} sets ports, which reach beyond the container, and nobody has approved them here yet:\n    ports:\n  +   web: 3000`,
    );
    await checkConfigTrust(home, ws, guard({ ports: { web: 3000 } }), { ...opts, approve: true });
    await checkConfigTrust(home, ws, guard({ ports: { web: 3000 } }), opts);
    const err = await refusal(checkConfigTrust(home, ws, guard({ ports: { web: 3000, admin: 9000 } }), opts));
    expect(err.message).toBe(`moat.yaml changed ports since the last run in ${ws}, and an agent in a run can edit that file:\n    ports:\n  +   admin: 9000`);
    const moved = await refusal(checkConfigTrust(home, ws, guard({ ports: { web: 8080 } }), opts));
    expect(moved.message).toContain('    ports:\n  -   web: 3000\n  +   web: 8080');
  });
});
