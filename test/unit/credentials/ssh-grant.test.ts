import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from '@commander-js/extra-typings';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerGrantCommands } from '../../../src/cli/grant.js';
import { resolveSshGrants } from '../../../src/credentials/providers/ssh.js';
import { resolveGrants } from '../../../src/credentials/resolve.js';
import { fingerprint } from '../../../src/credentials/ssh-keys.js';
import { ecdsaKey, ed25519Key, fakeAgent, pubLine, type TestKey } from './ssh-helpers.js';
import { fakeContext, tempHome, type TempHome } from './helpers.js';

let t: TempHome;
let a: TestKey;
let b: TestKey;
let agent: Awaited<ReturnType<typeof fakeAgent>>;
let env: NodeJS.ProcessEnv;
const hostHome = (): string => join(t.dir, 'user');

beforeEach(async () => {
  t = await tempHome();
  a = ed25519Key();
  b = ecdsaKey();
  agent = await fakeAgent(join(t.dir, 'agent.sock'), [
    { key: a, comment: 'a@laptop' },
    { key: b, comment: 'b@laptop' },
  ]);
  env = { SSH_AUTH_SOCK: join(t.dir, 'agent.sock') };
  await mkdir(join(hostHome(), '.ssh'), { recursive: true });
  await writeFile(join(hostHome(), '.ssh', 'known_hosts'), `git.a.test ${pubLine(ed25519Key().blob)}\ngit.b.test ${pubLine(ed25519Key().blob)}\n`);
  await writeFile(join(hostHome(), '.ssh', 'id_b.pub'), `${pubLine(b.blob, 'b@laptop')}\n`);
  await writeFile(join(hostHome(), '.ssh', 'id_other.pub'), `${pubLine(ed25519Key().blob)}\n`);
});
afterEach(async () => {
  await agent.close();
  await t.cleanup();
});

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) });
  return Object.assign(w, { text: () => chunks.join('') });
}

async function run(args: string[], envOver: NodeJS.ProcessEnv = env): Promise<{ out: string; err: string }> {
  const stdout = sink();
  const stderr = sink();
  const program = new Command('moat').exitOverride();
  registerGrantCommands(program, { home: t.home, store: t.store, stdout, stderr, grantContext: () => fakeContext({ env: envOver, hostHome: hostHome() }) });
  await program.parseAsync(args, { from: 'user' });
  return { out: stdout.text(), err: stderr.text() };
}

describe('moat grant ssh', () => {
  it("maps a host to the agent's first key, says which, and lists ssh:HOST with its fingerprint", async () => {
    const res = await run(['grant', 'ssh', '--host', 'Git.A.test']);
    expect(res.err).toContain(`Using the agent's first key: ${fingerprint(a.blob)} (a@laptop)`);
    expect(res.out).toContain(`Granted ssh:git.a.test: key ${fingerprint(a.blob)}`);
    const list = JSON.parse((await run(['grant', 'list', '--json'])).out) as { grants: Record<string, unknown>[] };
    expect(list.grants).toEqual([expect.objectContaining({ name: 'ssh:git.a.test', provider: 'ssh', kind: 'agent-key', fingerprint: fingerprint(a.blob) })]);
    expect((await run(['grant', 'list'])).out).toMatch(new RegExp(`ssh:git\\.a\\.test.*ssh-agent ${fingerprint(a.blob).slice(0, 20).replace(/[+/]/g, '.')}`));
    expect((await run(['grant', 'show', 'ssh:git.a.test'])).out).toContain(fingerprint(a.blob));
  });

  it('--key picks the key by its .pub file; revoke ssh:HOST removes it', async () => {
    await run(['grant', 'ssh', '--host', 'git.b.test', '--key', join(hostHome(), '.ssh', 'id_b')]);
    const cred = await t.store.get('ssh_git.b.test');
    expect(cred?.meta?.fingerprint).toBe(fingerprint(b.blob));
    expect(cred?.meta?.knownHosts).toMatch(/^git\.b\.test ssh-ed25519 /);
    expect((await run(['revoke', 'ssh:git.b.test'])).out).toMatch(/Removed/);
    expect(await t.store.get('ssh_git.b.test')).toBeUndefined();
  });

  it('fails with the fix, storing nothing: no SSH_AUTH_SOCK, a key the agent lacks, no known_hosts entry, no host, a bad host', async () => {
    await expect(run(['grant', 'ssh', '--host', 'git.a.test'], {})).rejects.toMatchObject({
      code: 'E_CREDENTIAL',
      message: expect.stringContaining('SSH_AUTH_SOCK is not set'),
    });
    await expect(run(['grant', 'ssh', '--host', 'git.a.test', '--key', join(hostHome(), '.ssh', 'id_other')])).rejects.toMatchObject({
      message: expect.stringContaining('does not hold the key'),
      hint: `ssh-add ${join(hostHome(), '.ssh', 'id_other')}`,
    });
    await expect(run(['grant', 'ssh', '--host', 'git.c.test'])).rejects.toMatchObject({
      message: expect.stringContaining('no key for git.c.test'),
      hint: expect.stringContaining('ssh -T git@git.c.test'),
    });
    await expect(run(['grant', 'ssh'])).rejects.toMatchObject({ code: 'E_USAGE', hint: expect.stringContaining('--host') });
    await expect(run(['grant', 'ssh', '--host', 'a_b/../x'])).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(run(['grant', 'github', '--host', 'x.test'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringContaining('belong to SSH grants'),
    });
    await expect(run(['grant', 'ssh', '--host', 'git.a.test'], { SSH_AUTH_SOCK: join(t.dir, 'nothing.sock') })).rejects.toMatchObject({
      message: expect.stringContaining('cannot be reached'),
    });
    expect(await t.store.list()).toEqual([]);
  });
});

describe('a run with ssh grants', () => {
  it('resolves ssh:HOST grants and leaves them out of the header grants', async () => {
    await run(['grant', 'ssh', '--host', 'git.a.test']);
    await run(['grant', 'ssh', '--host', 'git.b.test', '--key', join(hostHome(), '.ssh', 'id_b.pub')]);
    const r = await resolveSshGrants(['ssh:git.a.test', 'ssh:GIT.B.TEST', 'github'], t.store, env);
    expect(r.grants.map((g) => [g.host, g.fingerprint])).toEqual([
      ['git.a.test', fingerprint(a.blob)],
      ['git.b.test', fingerprint(b.blob)],
    ]);
    expect(r.agentSocket).toBe(env.SSH_AUTH_SOCK);
    expect((await resolveGrants(['ssh:git.a.test'], t.store)).injections).toEqual([]);
  });

  it('fails before anything is created: a host never granted, no SSH_AUTH_SOCK, an agent without the key', async () => {
    await run(['grant', 'ssh', '--host', 'git.a.test']);
    await expect(resolveSshGrants(['ssh:git.z.test'], t.store, env)).rejects.toMatchObject({
      message: 'The grant "ssh:git.z.test" does not exist yet.',
      hint: 'moat grant ssh --host git.z.test',
    });
    await expect(resolveSshGrants(['ssh:git.a.test'], t.store, {})).rejects.toMatchObject({ message: expect.stringContaining('SSH_AUTH_SOCK is not set') });
    await agent.close();
    agent = await fakeAgent(join(t.dir, 'agent2.sock'), [{ key: b, comment: '' }]);
    await expect(resolveSshGrants(['ssh:git.a.test'], t.store, { SSH_AUTH_SOCK: join(t.dir, 'agent2.sock') })).rejects.toMatchObject({
      message: expect.stringContaining(`does not hold the key ${fingerprint(a.blob)} granted for git.a.test`),
    });
    await expect(resolveSshGrants(['ssh:'], t.store, env)).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});
