import { Writable } from 'node:stream';
import { Command } from '@commander-js/extra-typings';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerGrantCommands, redact } from '../../../src/cli/grant.js';
import type { GrantContext } from '../../../src/credentials/types.js';
import { cred, fakeContext, tempHome, type TempHome } from './helpers.js';

const SECRET = 'ghp_REALSECRETREALSECRETREALSECRET1234';

let t: TempHome;
beforeEach(async () => {
  t = await tempHome();
  process.exitCode = undefined;
});
afterEach(async () => {
  process.exitCode = undefined;
  await t.cleanup();
});

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) });
  return Object.assign(w, { text: () => chunks.join('') });
}

async function run(args: string[], grantContext?: () => GrantContext): Promise<{ out: string; err: string }> {
  const stdout = sink();
  const stderr = sink();
  const program = new Command('moat').exitOverride();
  registerGrantCommands(program, { home: t.home, store: t.store, stdout, stderr, ...(grantContext ? { grantContext } : {}) });
  await program.parseAsync(args, { from: 'user' });
  return { out: stdout.text(), err: stderr.text() };
}

describe('moat grant CLI', () => {
  it('grants from stdin, lists without secrets, shows redacted, revokes', async () => {
    const ctx = (): GrantContext => fakeContext({ tokenStdin: true, readStdin: () => Promise.resolve(SECRET) });
    const granted = await run(['grant', 'github:repo', '--token-stdin', '--no-validate'], ctx);
    expect(granted.out).toMatch(/Granted .*github.* \(scopes: repo\): token from stdin; not validated/);

    const list = await run(['grant', 'list', '--json']);
    const parsed = JSON.parse(list.out) as { grants: Record<string, unknown>[] };
    expect(parsed.grants).toEqual([
      { name: 'github', status: 'ok', provider: 'github', kind: 'token', source: 'stdin', scopes: ['repo'], createdAt: expect.any(String), expiresAt: null },
    ]);
    expect((await run(['grant', 'list'])).out).toMatch(/github.*token.*stdin.*repo.*never/);

    const show = await run(['grant', 'show', 'github']);
    expect(show.out).toContain('ghp_…1234');
    for (const o of [granted, list, show]) expect(o.out + o.err).not.toContain(SECRET);

    expect((await run(['revoke', 'github'])).out).toMatch(/Removed/);
    await expect(run(['revoke', 'github'])).rejects.toMatchObject({ name: 'MoatError', hint: 'moat grant list' });
  });

  it('list reports a corrupt credential next to good ones', async () => {
    await t.store.put('github', cred());
    const { writeFile } = await import('node:fs/promises');
    await writeFile(t.store.pathOf('claude'), 'junk-junk-junk-junk-junk-junk-junk-junk');
    const parsed = JSON.parse((await run(['grant', 'list', '--json'])).out) as { grants: { name: string; status: string; fix?: string }[] };
    expect(parsed.grants.map((g) => [g.name, g.status, g.fix])).toEqual([
      ['claude', 'corrupt', 'moat grant claude'],
      ['github', 'ok', undefined],
    ]);
  });

  it('Ctrl-C at the prompt exits cleanly with code 130', async () => {
    const exit = Object.assign(new Error('closed'), { name: 'ExitPromptError' });
    const res = await run(['grant', 'anthropic'], () => fakeContext({ isTTY: true, promptSecret: () => Promise.reject(exit) }));
    expect(res.err).toContain('Cancelled.');
    expect(process.exitCode).toBe(130);
  });

  it('unknown provider and show of a missing grant are MoatErrors with the fix', async () => {
    await expect(run(['grant', 'githb'])).rejects.toMatchObject({ name: 'MoatError', hint: 'did you mean: moat grant github' });
    await expect(run(['grant', 'show', 'npm'])).rejects.toMatchObject({ name: 'MoatError', hint: 'moat grant npm' });
  });

  it('redacts to first 4 and last 4 characters, hiding short values entirely', () => {
    expect(redact('sk-ant-api03-abcdefghijkl')).toBe('sk-a…ijkl');
    expect(redact('short')).toBe('••••');
  });
});
