/**
 * SSH through the gateway with a filtering agent, against real OpenSSH: two sshd on loopback (git.a.test and
 * git.b.test through the test-only upstream override, each with its own host key, each accepting both user
 * keys), a host ssh-agent started here with two throwaway keys, and the real ssh/git inside the container.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, tempDir, waitFor } from './helpers.js';

const T = 240_000;
let root: string;
let home: string;
let ws: string;
let userHome: string;
let env: NodeJS.ProcessEnv;
const procs: ChildProcess[] = [];
const ports: Record<string, number> = {};

const sh = (cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): string => execFileSync(cmd, args, { env: { ...process.env, ...extra } }).toString();

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function startSshd(name: string): Promise<void> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  const port = await freePort();
  await writeFile(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(root, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const p = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  procs.push(p);
  await waitFor(
    () =>
      new Promise<boolean>((r) => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.destroy();
          r(true);
        });
        c.on('error', () => r(false));
      }),
    10_000,
    `sshd ${name}`,
  );
  ports[name] = port;
  const pub = (await readFile(join(dir, 'host_key.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
  await writeFile(join(userHome, '.ssh', 'known_hosts'), `${name} ${pub}\n`, { flag: 'a' });
}

const user = (): string => execFileSync('id', ['-un']).toString().trim();
const run = (args: string[], timeoutMs = T): ReturnType<typeof moat> => moat(['run', '--approve-config', ...args], { home, cwd: ws, env, timeoutMs });

async function sshAudit(runName: string): Promise<{ action: string; decision: string; host?: string; fingerprint?: string; reason: string }[]> {
  const dirs = (await import('node:fs')).readdirSync(join(home, 'runs'));
  for (const d of dirs) {
    const meta = JSON.parse(await readFile(join(home, 'runs', d, 'metadata.json'), 'utf8')) as { name: string };
    if (meta.name !== runName) continue;
    const lines = (await readFile(join(home, 'runs', d, 'audit.jsonl'), 'utf8')).split('\n').filter(Boolean);
    return lines
      .map((l) => JSON.parse(l) as { type: string; data: never })
      .filter((e) => e.type === 'ssh')
      .map((e) => e.data);
  }
  throw new Error(`no run named ${runName}`);
}

const fp = (pubFile: string): string => sh('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile]).split(' ')[1]!;

beforeAll(async () => {
  root = await tempDir('moat-ssh-');
  home = join(root, 'moat');
  ws = join(root, 'ws');
  userHome = join(root, 'user');
  await mkdir(join(userHome, '.ssh'), { recursive: true });
  await mkdir(ws, { recursive: true });
  await mkdir('/run/sshd', { recursive: true });
  for (const k of ['id_a', 'id_b']) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${k}@host`, '-f', join(root, k)]);
  await writeFile(join(root, 'authorized_keys'), `${await readFile(join(root, 'id_a.pub'), 'utf8')}${await readFile(join(root, 'id_b.pub'), 'utf8')}`);
  await startSshd('git.a.test');
  await startSshd('git.b.test');
  const agentSock = join(root, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
  procs.push(agent);
  await waitFor(() => import('node:fs').then((fs) => fs.existsSync(agentSock)), 10_000, 'ssh-agent');
  sh('ssh-add', ['-q', join(root, 'id_a'), join(root, 'id_b')], { SSH_AUTH_SOCK: agentSock });
  // A bare repository served by git.a.test's sshd, with one commit.
  const seed = join(root, 'seed');
  sh('git', ['init', '-q', '--bare', '-b', 'main', join(root, 'repo.git')]);
  sh('git', ['init', '-q', '-b', 'main', seed]);
  sh('git', ['-C', seed, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'seed']);
  sh('git', ['-C', seed, 'push', '-q', join(root, 'repo.git'), 'main']);
  env = {
    HOME: userHome,
    SSH_AUTH_SOCK: agentSock,
    MOAT_KEYRING_BACKEND: 'file',
    MOAT_TESTING: '1',
    MOAT_TEST_UPSTREAMS: `git.a.test=127.0.0.1:${ports['git.a.test']!},git.b.test=127.0.0.1:${ports['git.b.test']!},git.c.test=127.0.0.1:${ports['git.b.test']!}`,
  };
  for (const [host, key] of [
    ['git.a.test', 'id_a'],
    ['git.b.test', 'id_b'],
  ] as const) {
    const g = await moat(['grant', 'ssh', '--host', host, '--key', join(root, key)], { home, cwd: ws, env });
    expect(g.code, g.stderr).toBe(0);
  }
  await writeFile(join(ws, 'moat.yaml'), 'dependencies: [git, apt:openssh-client]\n');
  await writeFile(join(ws, 'a.pub'), await readFile(join(root, 'id_a.pub')));
  // Build the image once for the whole file.
  const warm = await run(['-n', 'ssh-warm', '--', 'true'], 900_000);
  expect(warm.code, warm.stderr).toBe(0);
}, 960_000);

afterAll(async () => {
  for (const p of procs) p.kill();
  await cleanupHome(home, ws, [root]);
});

describe('git over SSH through the gateway with a filtering agent', () => {
  it(
    'clones, commits and pushes to git.a.test with the agent key; the push lands on the host',
    async () => {
      const repo = join(root, 'repo.git');
      const r = await run([
        '-n',
        'ssh-push',
        '-g',
        'ssh:git.a.test',
        '--',
        'sh',
        '-c',
        `git clone -q ${user()}@git.a.test:${repo} r && cd r && git -c user.email=m@m -c user.name=m commit -q --allow-empty -m from-moat && git push -q origin main && echo PUSHED`,
      ]);
      expect(r.stdout + r.stderr).toContain('PUSHED');
      expect(r.code).toBe(0);
      expect(sh('git', ['-C', repo, 'log', '--format=%s', 'main'])).toBe('from-moat\nseed\n');
      const audit = await sshAudit('ssh-push');
      expect(audit).toContainEqual(expect.objectContaining({ action: 'bind', decision: 'allow', host: 'git.a.test' }));
      expect(audit).toContainEqual(expect.objectContaining({ action: 'sign', decision: 'allow', host: 'git.a.test', fingerprint: fp(join(root, 'id_a.pub')) }));
    },
    T,
  );

  it(
    'no private key material anywhere in the container: env, files, /proc',
    async () => {
      const priv = (await readFile(join(root, 'id_a'), 'utf8')).split('\n')[2]!; // a line of the key's base64 body
      expect(priv.length).toBeGreaterThan(40);
      // The pattern is written in two halves and joined in a file, so no command line inside carries it whole.
      const half = Math.floor(priv.length / 2);
      const r = await run([
        '-n',
        'ssh-scan',
        '-g',
        'ssh:git.a.test',
        '-g',
        'ssh:git.b.test',
        '--',
        'sh',
        '-c',
        `A='${priv.slice(0, half)}'; B='${priv.slice(half)}'; printf '%s%s\\n' "$A" "$B" > /tmp/pat; ` +
          `ssh -o BatchMode=yes ${user()}@git.a.test true; echo SSH=$?; echo "SOCK=$SSH_AUTH_SOCK"; ` +
          `grep -rlsF -f /tmp/pat -e "PRIVATE KEY" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null | grep -v '^/etc/ssl\\|^/usr/\\|^/tmp/pat$' ; ` +
          `cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -cFf /tmp/pat; echo SCANNED`,
      ]);
      expect(r.stdout).toContain('SSH=0');
      expect(r.stdout).toContain('SOCK=/moat/net/agent.sock');
      expect(r.stdout.trim().split('\n').slice(-2)).toEqual(['0', 'SCANNED']);
      expect(r.stdout).not.toMatch(/^\/(?!etc\/ssl|usr\/)\S*$/m);
    },
    T,
  );

  it(
    'refuses SSH to a host never granted at the gateway',
    async () => {
      const r = await run(['-n', 'ssh-refused', '-g', 'ssh:git.a.test', '--', 'sh', '-c', `ssh -o BatchMode=yes ${user()}@git.c.test true; echo SSH=$?`]);
      expect(r.stdout).toContain('SSH=255');
      expect(r.stderr).toContain('CONNECT git.c.test:22: Forbidden');
      // The live line when the follower sees the refusal before the run ends; the end-of-run summary always.
      expect(r.stderr).toMatch(/^ {2}git\.c\.test +blocked: no SSH grant, 1 request$/m);
      expect(r.stderr).toContain('  git.c.test: grant it with: moat grant ssh --host git.c.test, then: moat run -g ssh:git.c.test.\n');
      expect(r.stderr).not.toContain('--allow-host');
      const trace = await moat(['trace', 'ssh-refused', '--json'], { home, cwd: ws, env });
      expect(trace.stdout).toMatch(/"host":"git\.c\.test".*"blocked":true|"blocked":true.*"host":"git\.c\.test"/);
    },
    T,
  );

  it(
    'a client connected to git.b.test cannot get a signature from the key granted for git.a.test',
    async () => {
      const msg = '/tmp/msg';
      const r = await run([
        '-n',
        'ssh-cross',
        '-g',
        'ssh:git.a.test',
        '-g',
        'ssh:git.b.test',
        '--',
        'sh',
        '-c',
        [
          // Only a's key, offered to b (whose sshd would accept it): refused by the agent filter.
          `ssh -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityFile=/workspace/a.pub ${user()}@git.b.test true; echo CROSS=$?`,
          // b's own key works on b in the same run.
          `ssh -o BatchMode=yes ${user()}@git.b.test true; echo OWN=$?`,
          // A direct sign request for a's key outside any bound session.
          `echo hi > ${msg}; ssh-keygen -Y sign -f /workspace/a.pub -n file ${msg}; echo RAW=$?`,
        ].join('; '),
      ]);
      expect(r.stdout).toContain('CROSS=255');
      expect(r.stdout).toContain('OWN=0');
      expect(r.stdout).toMatch(/RAW=[1-9]/);
      const audit = await sshAudit('ssh-cross');
      const aFp = fp(join(root, 'id_a.pub'));
      expect(audit.filter((e) => e.action === 'sign' && e.decision === 'allow' && e.fingerprint === aFp)).toEqual([]);
      expect(audit).toContainEqual(expect.objectContaining({ action: 'sign', decision: 'deny', fingerprint: aFp }));
      expect(audit).toContainEqual(expect.objectContaining({ action: 'sign', decision: 'allow', host: 'git.b.test', fingerprint: fp(join(root, 'id_b.pub')) }));
    },
    T,
  );

  it(
    'fails before anything is created without SSH_AUTH_SOCK or for a host never granted',
    async () => {
      const noSock = await moat(['run', '--approve-config', '-g', 'ssh:git.a.test', '--', 'true'], { home, cwd: ws, env: { ...env, SSH_AUTH_SOCK: '' } });
      expect(noSock.code).not.toBe(0);
      expect(noSock.stderr).toContain('SSH_AUTH_SOCK is not set');
      const never = await moat(['run', '--approve-config', '-g', 'ssh:git.z.test', '--', 'true'], { home, cwd: ws, env });
      expect(never.stderr).toContain('moat grant ssh --host git.z.test');
      const list = await moat(['list', '--json'], { home, cwd: ws, env });
      expect((JSON.parse(list.stdout) as { runs: { name: string }[] }).runs.map((x) => x.name).sort()).toEqual([
        'ssh-cross',
        'ssh-push',
        'ssh-refused',
        'ssh-scan',
        'ssh-warm',
      ]);
    },
    T,
  );
});
