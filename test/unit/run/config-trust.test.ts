import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatError } from '../../../src/errors.js';
import { MoatHome } from '../../../src/home/paths.js';
import { changedSettings, checkConfigTrust, guardedSettings } from '../../../src/run/config-trust.js';

let dir: string;
let home: MoatHome;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-trust-'));
  home = new MoatHome(join(dir, 'home'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const ws = '/work/project';
const guard = (raw: Parameters<typeof guardedSettings>[0], file = 'moat.yaml') => ({ file, settings: guardedSettings(raw) });

describe('moat.yaml approval per workspace', () => {
  it('guards only what reaches beyond the container', () => {
    const a = guardedSettings({ dependencies: ['node@22'], env: { A: '1' }, grants: ['github'] });
    const b = guardedSettings({ dependencies: ['python'], env: { A: '2' }, grants: ['github'], claude: { mcp: { x: { command: 'y' } } } });
    expect(changedSettings(a, b)).toEqual([]);
    expect(changedSettings(a, guardedSettings({ grants: ['github', 'openai'] }))).toEqual(['grants']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], mounts: ['/:/host:ro'] }))).toEqual(['mounts']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], network: { policy: 'permissive' } }))).toEqual(['network']);
    expect(changedSettings(a, guardedSettings({ grants: ['github'], claude: { sync_logs: true } }))).toEqual(['claude.sync_logs']);
    // Key order does not matter.
    expect(changedSettings(guardedSettings({ network: { policy: 'strict', rules: ['a.com'] } }), guardedSettings({ network: { rules: ['a.com'], policy: 'strict' } }))).toEqual([]);
  });

  it('records the first run, lets identical settings through, refuses a change without a terminal', async () => {
    await checkConfigTrust(home, ws, guard({ grants: ['github'] }), { approve: false });
    await checkConfigTrust(home, ws, guard({ grants: ['github'] }), { approve: false });
    const err = await checkConfigTrust(home, ws, guard({ grants: ['github'], mounts: ['~/.ssh:/stolen'] }), { approve: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).message).toBe('moat.yaml changed mounts since the last run in /work/project, and an agent in a run can edit that file.');
    expect((err as MoatError).hint).toContain('--approve-config');
    // Still refused next time: a refusal approves nothing.
    await expect(checkConfigTrust(home, ws, guard({ grants: ['github'], mounts: ['~/.ssh:/stolen'] }), { approve: false })).rejects.toThrow(/changed mounts/);
  });

  it('a moat.yaml that appears where there was none is a change too', async () => {
    await checkConfigTrust(home, ws, { settings: guardedSettings({}) }, { approve: false });
    await expect(checkConfigTrust(home, ws, guard({ mounts: ['/:/host'] }), { approve: false })).rejects.toThrow(/changed mounts/);
  });

  it('--approve-config or a yes on the terminal records the new settings; a no starts nothing', async () => {
    await checkConfigTrust(home, ws, guard({}), { approve: false });
    const asked: string[] = [];
    const no = async (q: string, d: string): Promise<boolean> => { asked.push(q, d); return false; };
    await expect(checkConfigTrust(home, ws, guard({ grants: ['openai'], network: { policy: 'permissive' } }), { approve: false, confirm: no }))
      .rejects.toThrow('Not started: the changed grants and network in moat.yaml were not approved.');
    expect(asked[0]).toBe('Run with the new settings?');
    expect(asked[1]).toContain('moat.yaml changed grants and network since the last run here');
    expect(asked[1]).toContain('grants: [] -> ["openai"]');
    await checkConfigTrust(home, ws, guard({ grants: ['openai'] }), { approve: false, confirm: async () => true });
    await checkConfigTrust(home, ws, guard({ grants: ['openai'] }), { approve: false });
    await checkConfigTrust(home, ws, guard({ grants: ['openai', 'github'] }), { approve: true });
    await checkConfigTrust(home, ws, guard({ grants: ['openai', 'github'] }), { approve: false });
  });

  it('workspaces are approved separately', async () => {
    await checkConfigTrust(home, ws, guard({ grants: ['github'] }), { approve: false });
    await checkConfigTrust(home, '/work/other', guard({ grants: ['openai'] }), { approve: false });
    await expect(checkConfigTrust(home, ws, guard({ grants: ['openai'] }), { approve: false })).rejects.toThrow(/changed grants/);
  });
});

describe('hostile output: a run cannot raise its own log limit unseen', () => {
  it('container.log_limit is an approved setting when set, and absent (old approvals stay valid) when not', () => {
    expect(guardedSettings({ container: { log_limit: '1t' } })['container.log_limit']).toBe('1t');
    expect('container.log_limit' in guardedSettings({ container: { memory: '1g' } })).toBe(false);
  });
});
