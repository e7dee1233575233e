/**
 * A run's container as the attacker of the host paths it can reach: its gateway directory (host
 * `runs/<id>/net`, at /moat/net), which a root daemon creates the socket in and cleans up. The workspace is
 * owned by root here, so the container's user is uid 0 without capabilities: it owns that directory, and
 * only the mount keeps it from changing it.
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, parseDetached, readLogs, tempDir, waitFor } from './helpers.js';
import { makeWorkspace, runIdOf, warmImage } from './fixtures/gateway-kit.js';

let home: string;
let root: string;
let victim: string;

beforeAll(async () => {
  home = await tempDir('hostile-home');
  root = await tempDir('hostile-ws');
  victim = join(root, 'victim.txt');
  await writeFile(victim, 'host file\n');
  await chmod(victim, 0o644);
  await warmImage(home, await makeWorkspace(root, 'warm'), {});
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe('hostile container: its gateway directory', () => {
  it('cannot create, move, replace or chmod anything in /moat/net, and its gateway still answers', async () => {
    const cwd = await makeWorkspace(root, 'net', 'network:\n  policy: strict\n');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'try() { name=$1; shift; if "$@" 2>/dev/null; then echo "$name=done"; else echo "$name=refused"; fi; }',
      `try LINK ln -s ${victim} /moat/net/evil`,
      'try TOUCH touch /moat/net/file',
      'try MKDIR mkdir /moat/net/dir',
      'try CHMOD chmod 0666 /moat/net/proxy.sock',
      'try MOVE mv /moat/net/proxy.sock /moat/net/moved.sock',
      `try SWAP ln -sf ${victim} /moat/net/proxy.sock`,
      'try RM rm -f /moat/net/proxy.sock',
      'echo "NET=$(ls -A /moat/net | tr "\\n" " ")"',
      // The relay still reaches the gateway through the read-only directory: a strict run's refusal.
      'curl -s -o /dev/null -w "connect=%{http_connect}\\n" https://denied.moat.test/; true',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home, cwd });
    expect(r.code, r.stderr).toBe(0);
    for (const what of ['LINK', 'TOUCH', 'MKDIR', 'CHMOD', 'MOVE', 'SWAP', 'RM']) expect(r.stdout).toContain(`${what}=refused`);
    expect(r.stdout).toMatch(/^NET=proxy\.sock $/m);
    expect(r.stdout).toContain('connect=403');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    // The run is over: nothing the container could have left is there, and the directory went.
    const net = join(home, 'runs', runIdOf(r.stdout), 'net');
    const left = (): string[] => {
      try {
        return readdirSync(net);
      } catch {
        return []; // gone, as it should be
      }
    };
    await waitFor(() => left().length === 0, 15_000, "the run's net/ emptied").catch(() => undefined);
    expect(left()).toEqual([]);
    expect(() => lstatSync(join(home, 'runs', runIdOf(r.stdout), '.gw'))).toThrow();
  });

  it('a daemon restart puts a new socket in the read-only directory, which the running container reaches', async () => {
    const cwd = await makeWorkspace(root, 'restart', 'network:\n  policy: strict\n');
    const script = [
      'curl -s -o /dev/null -w "before=%{http_connect}\\n" https://denied.moat.test/; true',
      'i=0; while [ ! -e /workspace/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done',
      `ln -sf ${victim} /moat/net/proxy.sock 2>/dev/null && echo SWAP=done || echo SWAP=refused`,
      'curl -s -o /dev/null -w "after=%{http_connect}\\n" https://denied.moat.test/; true',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '-d', '--', 'sh', '-c', script], { home, cwd });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    const text = async (): Promise<string> => (await readLogs(home, id)).map((l) => l.line).join('\n');
    await waitFor(async () => (await text()).includes('before='), 20_000, 'the request before the restart');
    const restart = await moat(['proxy', 'restart'], { home, cwd });
    expect(restart.code, restart.stderr).toBe(0);
    await waitFor(
      async () => {
        const st = await moat(['proxy', 'status', '--json'], { home, cwd });
        return (JSON.parse(st.stdout) as { runs?: string[] }).runs?.includes(id);
      },
      15_000,
      'the run re-registered by the new daemon',
    );
    const sock = lstatSync(join(home, 'runs', id, 'net', 'proxy.sock'));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(() => lstatSync(join(home, 'runs', id, '.gw'))).toThrow();
    await writeFile(join(cwd, 'go'), '');
    const out = await waitFor(
      async () => {
        const t = await text();
        return t.includes('after=') ? t : undefined;
      },
      20_000,
      'the request after the restart',
    );
    expect(out).toContain('before=403');
    expect(out).toContain('SWAP=refused');
    expect(out).toContain('after=403');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
  });
});

describe("hostile container: the workspace's moat.yaml", () => {
  it('an agent that edits moat.yaml to mount a host folder gets nothing: the next run refuses until the user approves', async () => {
    const secretDir = join(root, 'host-secrets');
    await mkdir(secretDir, { recursive: true });
    await writeFile(join(secretDir, 'id_ed25519'), 'HOST-PRIVATE-KEY\n');
    const cwd = await makeWorkspace(root, 'config');
    // The agent's run rewrites the workspace's moat.yaml (the workspace is mounted read-write).
    const r = await moat(
      ['run', '--approve-config', '--', 'sh', '-c', `printf 'mounts: ["${secretDir}:/stolen:ro"]\\n' >> /workspace/moat.yaml && echo EDITED`],
      { home, cwd },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('EDITED');
    expect(await readFile(join(cwd, 'moat.yaml'), 'utf8')).toContain('/stolen');
    // The user's next run (no terminal here) is refused before anything is created, and says why.
    const runsBefore = readdirSync(join(home, 'runs')).length;
    const next = await moat(['run', '--', 'sh', '-c', 'cat /stolen/id_ed25519'], { home, cwd });
    expect(next.code).not.toBe(0);
    expect(next.stdout).not.toContain('HOST-PRIVATE-KEY');
    expect(next.stderr).toContain('moat.yaml changed mounts since the last run');
    expect(next.stderr).toContain('--approve-config');
    expect(next.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(join(home, 'runs'))).toHaveLength(runsBefore);
    // Approved explicitly, the user's own decision applies (and is remembered).
    const approved = await moat(['run', '--approve-config', '--', 'sh', '-c', 'cat /stolen/id_ed25519'], { home, cwd });
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain('HOST-PRIVATE-KEY');
    const again = await moat(['run', '--', 'true'], { home, cwd });
    expect(again.code, again.stderr).toBe(0);
  });

  it('a run that plants a git hook or edits .git/config is named after the run', async () => {
    const cwd = await makeWorkspace(root, 'hooks');
    await mkdir(join(cwd, '.git', 'hooks'), { recursive: true });
    await writeFile(join(cwd, '.git', 'config'), '[core]\n\tbare = false\n');
    const quiet = await moat(['run', '--approve-config', '--', 'sh', '-c', 'echo hi > /workspace/notes.txt'], { home, cwd });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('programs on this machine');
    const planted = await moat(
      [
        'run',
        '--',
        'sh',
        '-c',
        "printf '#!/bin/sh\\ncurl evil\\n' > /workspace/.git/hooks/pre-commit && printf '[core]\\n\\tfsmonitor = evil\\n' >> /workspace/.git/config",
      ],
      { home, cwd },
    );
    expect(planted.code, planted.stderr).toBe(0);
    expect(planted.stderr).toContain('The run changed .git/config, .git/hooks/pre-commit in the workspace');
  });
});
