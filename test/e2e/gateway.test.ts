/**
 * The network gateway as a security boundary (issue 4): each test tries to get out of a run's container
 * some other way than moat's proxy, or to use the proxy against its policy, against the real engine.
 * Upstreams are a local fake HTTPS server reached through the test-only upstream override; every host a
 * test asks for is mapped to it (or refused by policy before any dial), so no request leaves this machine.
 */
import { statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.js';
import { cleanupHome, containerExists, moat, parseDetached, readLogs, readMetadata, tempDir, upstreamOverrideEnv, waitFor } from './helpers.js';
import { docker, makeWorkspace, readNetLog, requestsTo, runIdOf, waitNetLog, warmImage } from './fixtures/gateway-kit.js';
import { holdBridge, type HeldBridge } from './fixtures/bridge.js';

const HOSTS = ['allowed.moat.test', 'other.moat.test', 'extra.moat.test', 'denied.moat.test', 'unlisted.moat.test', 'api.github.com'];

let home: string;
let root: string;
let fake: FakeUpstream;
let env: NodeJS.ProcessEnv;
let n = 0;
/** The engine's bridge, up for the file (Podman's exists only while a container is on it). */
let bridge: HeldBridge | undefined;

const ws = (yaml = ''): Promise<string> => makeWorkspace(root, `ws${++n}`, yaml);
const run = (cwd: string, script: string, flags: string[] = [], timeoutMs = 55_000) =>
  moat(['run', '--approve-config', ...flags, '--', 'sh', '-c', script], { home, cwd, env, timeoutMs });

/** Requests the fake upstream saw for `host` (Host header, any port). */
const seen = (host: string, path?: string) => requestsTo(fake, host, path);

/** A raw CONNECT through the run's relay: prints the whole refusal (status, headers, body). */
const RAW_CONNECT = (host: string) => `printf 'CONNECT ${host}:443 HTTP/1.1\\r\\nHost: ${host}:443\\r\\n\\r\\n' | socat -t 5 - TCP:127.0.0.1:$MOAT_PROXY_PORT`;

beforeAll(async () => {
  home = await tempDir('gw-home');
  root = await tempDir('gw-ws');
  fake = await startFakeUpstream();
  env = await upstreamOverrideEnv(root, Object.fromEntries(HOSTS.map((h) => [h, fake.httpsPort])), [fake.ca.certPem]);
  await warmImage(home, await ws(), env);
  bridge = await holdBridge();
});

afterAll(async () => {
  await bridge?.release();
  await fake?.close();
  await cleanupHome(home, root, [root]);
});

describe.concurrent('isolation: the container reaches nothing but its gateway', () => {
  it('cannot open TCP to servers on the host loopback or the Docker bridge gateway', async () => {
    const gateway = bridge!.ip;

    let accepted = 0;
    const servers = await Promise.all(
      ['127.0.0.1', gateway].map(
        (addr) =>
          new Promise<net.Server>((resolve, reject) => {
            const s = net.createServer((sock) => {
              accepted++;
              sock.on('error', () => undefined);
              sock.end('hello\n');
            });
            s.once('error', reject);
            s.listen(0, addr, () => resolve(s));
          }),
      ),
    );
    try {
      const [loPort, gwPort] = servers.map((s) => (s.address() as net.AddressInfo).port);
      // Sanity: the host itself can reach both servers.
      for (const [addr, port] of [
        ['127.0.0.1', loPort],
        [gateway, gwPort],
      ] as const) {
        await new Promise<void>((resolve, reject) => {
          const c = net.connect(port as number, addr, () => {
            c.destroy();
            resolve();
          });
          c.once('error', reject);
        });
      }
      expect(accepted).toBe(2);
      const targets = [`127.0.0.1/${loPort}`, `${gateway}/${gwPort}`, `${gateway}/${loPort}`];
      const script = [
        `for t in ${targets.join(' ')}; do if timeout 5 bash -c "exec 3<>/dev/tcp/$t" 2>/dev/null; then echo "OPEN $t"; else echo "CLOSED $t"; fi; done`,
        `curl --noproxy '*' -sS -m 5 -o /dev/null http://${gateway}:${gwPort}/; echo "curl-gw=$?"`,
        `curl --noproxy '*' -sS -m 5 -o /dev/null http://127.0.0.1:${loPort}/; echo "curl-lo=$?"`,
        `curl --noproxy '*' -sS -m 5 -o /dev/null https://registry.npmjs.org/; echo "curl-name=$?"`,
      ].join('\n');
      const r = await run(await ws(), script);
      expect(r.code, r.stderr).toBe(0);
      for (const t of targets) expect(r.stdout).toContain(`CLOSED ${t}`);
      expect(r.stdout).not.toContain('OPEN');
      expect(r.stdout).toMatch(/curl-gw=(7|28)\b/);
      expect(r.stdout).toMatch(/curl-lo=(7|28)\b/);
      expect(r.stdout).toMatch(/curl-name=6\b/); // could not resolve host
      expect(accepted).toBe(2); // nothing from the container arrived
    } finally {
      for (const s of servers) s.close();
    }
  });

  it("cannot reach the host's own services through the gateway either, unless the user names them", async () => {
    let hits = 0;
    const server = await new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer((sock) => {
        hits++;
        sock.on('error', () => undefined);
        sock.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhost\n');
      });
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const port = (server.address() as net.AddressInfo).port;
      // Through the proxy on purpose (-x), for every spelling of the host loopback and the metadata service.
      const targets = [
        `http://127.0.0.1:${port}/`,
        `http://localhost:${port}/`,
        `http://2130706433:${port}/`,
        `http://[::1]:${port}/`,
        'http://169.254.169.254/latest/meta-data/',
      ];
      const script =
        targets.map((u, i) => `curl -sS -m 10 -o /dev/null -w "t${i}=%{http_code}\\n" -x "http://127.0.0.1:$MOAT_PROXY_PORT" --noproxy '' '${u}'`).join('\n') +
        `\ncurl -sS -m 10 -x "http://127.0.0.1:$MOAT_PROXY_PORT" --noproxy '' 'http://127.0.0.1:${port}/' | grep -e --allow-host`;
      const r = await run(await ws(), script);
      expect(r.code, r.stderr).toBe(0);
      for (let i = 0; i < targets.length; i++) expect(r.stdout, targets[i]).toContain(`t${i}=403`);
      expect(r.stdout).toContain(`--allow-host 127.0.0.1:${port}`);
      expect(hits).toBe(0);
      // Named on the command line, exactly that host and port opens.
      const named = await run(await ws(), `curl -sS -m 10 -x "http://127.0.0.1:$MOAT_PROXY_PORT" --noproxy '' http://127.0.0.1:${port}/`, [
        '--allow-host',
        `127.0.0.1:${port}`,
      ]);
      expect(named.code, named.stderr).toBe(0);
      expect(named.stdout).toContain('host');
      expect(hits).toBe(1);
    } finally {
      server.close();
    }
  });

  it('resolves no outside name (getent, curl) and has no resolver to ask', async () => {
    const r = await run(await ws(), 'getent hosts registry.npmjs.org; echo "getent=$?"; getent ahosts github.com; echo "getent2=$?"');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('getent=2');
    expect(r.stdout).toContain('getent2=2');
    expect(r.stdout).not.toMatch(/^\d+\.\d+\.\d+\.\d+\s/m);
  });

  it('has no interface but lo, no IPv6 outside lo, no route; NetworkMode none; no NET_ADMIN or other added capability', async () => {
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sed 's/^/IF=/'",
      'awk \'{print "IF6=" $6}\' /proc/net/if_inet6',
      "tail -n +2 /proc/net/route | sed 's/^/ROUTE=/'",
      'awk \'$10 != "lo" {print "ROUTE6=" $10}\' /proc/net/ipv6_route',
      'grep -E "^Cap(Eff|Prm|Bnd|Amb)" /proc/self/status',
    ].join('\n');
    const r = await run(await ws(), script, ['--keep']);
    expect(r.code, r.stderr).toBe(0);
    const ifs = [...r.stdout.matchAll(/^IF=(.*)$/gm)].map((m) => m[1]);
    expect(ifs).toEqual(['lo']);
    for (const m of r.stdout.matchAll(/^IF6=(.*)$/gm)) expect(m[1]).toBe('lo');
    expect(r.stdout).not.toMatch(/^ROUTE6?=/m);
    for (const cap of ['CapEff', 'CapPrm', 'CapBnd']) expect(r.stdout).toMatch(new RegExp(`^${cap}:\\s+0{16}$`, 'm'));
    // gVisor's /proc has no CapAmb line (its kernel has no ambient set to show); where the line exists it is 0.
    for (const m of r.stdout.matchAll(/^CapAmb:\s+(\S+)$/gm)) expect(m[1]).toBe('0'.repeat(16));

    const meta = await readMetadata(home, runIdOf(r.stdout));
    const info = JSON.parse(await docker(['inspect', meta.containerId as string])) as Array<{
      HostConfig: { NetworkMode: string; Privileged: boolean; CapAdd: string[] | null; PidMode: string; IpcMode: string };
      NetworkSettings: { Networks: Record<string, unknown> };
    }>;
    const hc = info[0]!.HostConfig;
    expect(hc.NetworkMode).toBe('none');
    expect(hc.Privileged).toBe(false);
    // Docker lists the none network, Podman lists no network at all: either way it is attached to none.
    expect(Object.keys(info[0]!.NetworkSettings.Networks).filter((n) => n !== 'none')).toEqual([]);
    for (const cap of ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'NET_BIND_SERVICE', 'ALL']) {
      expect((hc.CapAdd ?? []).map((c) => c.replace(/^CAP_/, ''))).not.toContain(cap);
    }
    expect(hc.PidMode === '' || hc.PidMode === 'private').toBe(true);
    expect(hc.IpcMode).not.toBe('host');
  });

  it('sets the proxy variables inside, and drops a user HTTPS_PROXY/http_proxy/NO_PROXY with a warning', async () => {
    const r = await run(await ws('env:\n  ALL_PROXY: http://evil.example:3\n'), 'env | grep -i -E "^(https?|all|no)_proxy=" | sort', [
      '-e',
      'HTTPS_PROXY=http://evil:1',
      '-e',
      'http_proxy=http://evil:2',
      '-e',
      'NO_PROXY=*',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const vars = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) expect(vars[k]).toBe('http://127.0.0.1:43128');
    expect(vars.NO_PROXY).toBe('localhost,127.0.0.1,::1');
    expect(vars.no_proxy).toBe('localhost,127.0.0.1,::1');
    expect(vars.ALL_PROXY).toBeUndefined();
    expect(r.stdout).not.toContain('evil');
    for (const k of ['HTTPS_PROXY', 'http_proxy', 'NO_PROXY', 'ALL_PROXY']) expect(r.stderr).toMatch(new RegExp(`warning:.*${k} is ignored`));
  });

  it('HTTPS through the proxy works with the moat CA trusted by curl (no -k), and the leaf is issued by the moat CA', async () => {
    const r = await run(await ws(), 'curl -sS -v https://allowed.moat.test/hello?x=1 2>/tmp/err; echo; echo "rc=$?"; grep -i "issuer:" /tmp/err');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"path":"/hello?x=1"');
    expect(r.stdout).toMatch(/issuer:.*Moat Gateway CA/);
    expect(seen('allowed.moat.test', '/hello?x=1').length).toBeGreaterThanOrEqual(1);
  });

  it('the CA key is nowhere in the container; only the CA certificate is, at /moat/ca/ca.pem', async () => {
    const keyPem = await readFile(join(home, 'ca', 'ca.key'), 'utf8');
    const certPem = await readFile(join(home, 'ca', 'ca.pem'), 'utf8');
    const body = keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    expect(body.length).toBeGreaterThanOrEqual(2);
    const needle = body[1]!.slice(0, 40); // private-key material, not the fixed ASN.1 prefix
    expect(needle).toMatch(/^[A-Za-z0-9+/]{40}$/);
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      // A positive control proves the scan reads files; then the key material must match nothing.
      'echo moat-control-needle-1234 > /tmp/control',
      `grep -rlF -s -e 'moat-control-needle-1234' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev | sed 's/^/CONTROL=/'`,
      `grep -rlF -s -e '${needle}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev | sed 's/^/HIT=/'`,
      'grep -rl "PRIVATE KEY" /moat /etc/ssl /usr/local/share/ca-certificates /home 2>/dev/null; echo "pk=$?"',
      'ls -A /moat/ca | sed "s/^/CA=/"',
      'echo =====CERT=====; cat /moat/ca/ca.pem',
    ].join('\n');
    const r = await run(await ws(), script, ['--keep'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^CONTROL=\/tmp\/control$/m);
    expect(r.stdout).not.toContain('HIT=');
    expect(r.stdout).toContain('pk=1');
    expect([...r.stdout.matchAll(/^CA=(.*)$/gm)].map((m) => m[1])).toEqual(['ca.pem']);
    expect(r.stdout.split('=====CERT=====\n')[1]).toBe(certPem);
    // Nor is the moat home's CA directory (or the home) mounted.
    const meta = await readMetadata(home, runIdOf(r.stdout));
    const info = JSON.parse(await docker(['inspect', meta.containerId as string])) as Array<{ Mounts: Array<{ Source: string; Destination: string }> }>;
    const sources = info[0]!.Mounts.map((m) => m.Source);
    expect(sources).not.toContain(join(home, 'ca'));
    expect(sources).not.toContain(home);
    expect(sources.filter((s) => s.startsWith(join(home, 'ca')))).toEqual([join(home, 'ca', 'ca.pem')]);
    expect(info[0]!.Mounts.find((m) => m.Destination === '/moat/net')?.Source).toBe(join(home, 'runs', meta.id, 'net'));
  });
});

describe.concurrent('policy', () => {
  it('strict refuses an unlisted host at CONNECT with 403, X-Moat-Blocked and the moat.yaml line; a listed host works', async () => {
    const cwd = await ws('network:\n  policy: strict\n  rules:\n    - allowed.moat.test\n');
    const before = seen('unlisted.moat.test').length;
    const script = [
      RAW_CONNECT('unlisted.moat.test'),
      'echo; echo ===',
      'curl -sS -o /dev/null -w "connect=%{http_connect}\\n" https://unlisted.moat.test/x; echo "rc=$?"',
      'curl -sS -o /dev/null -w "allowed=%{http_code}\\n" https://allowed.moat.test/ok',
    ].join('\n');
    const r = await run(cwd, script);
    expect(r.code, r.stderr).toBe(0);
    const raw = r.stdout.split('===')[0]!;
    expect(raw).toMatch(/^HTTP\/1\.1 403 Forbidden\r?$/m);
    expect(raw).toMatch(/^X-Moat-Blocked: .*unlisted\.moat\.test.*strict/im);
    expect(raw).toContain('Moat blocked CONNECT unlisted.moat.test:443');
    expect(raw).toContain('To allow it, add to moat.yaml:');
    expect(raw).toContain('    - "unlisted.moat.test"');
    expect(r.stdout).toContain('connect=403');
    expect(r.stdout).toMatch(/rc=56\b/);
    expect(r.stdout).toContain('allowed=200');
    expect(seen('unlisted.moat.test').length).toBe(before); // never dialed
  });

  it('permissive (the default) allows any host', async () => {
    const r = await run(await ws(), 'curl -sS -o /dev/null -w "code=%{http_code}\\n" https://other.moat.test/permissive');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('code=200');
    expect(seen('other.moat.test', '/permissive')).toHaveLength(1);
  });

  it('network.deny refuses a host even under permissive', async () => {
    const cwd = await ws('network:\n  policy: permissive\n  deny:\n    - denied.moat.test\n');
    const r = await run(
      cwd,
      `${RAW_CONNECT('denied.moat.test')}\necho ===\ncurl -sS -o /dev/null -w "connect=%{http_connect}\\n" https://denied.moat.test/no; echo "rc=$?"`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403 Forbidden\r?$/m);
    expect(r.stdout).toMatch(/^X-Moat-Blocked: .*network\.deny/im);
    expect(r.stdout).toContain('remove "denied.moat.test" from network.deny in moat.yaml');
    expect(r.stdout).toContain('connect=403');
    expect(seen('denied.moat.test')).toHaveLength(0);
  });

  it('--allow-host adds a host under strict (others stay refused)', async () => {
    const cwd = await ws('network:\n  policy: strict\n');
    const script = [
      'curl -sS -o /dev/null -w "extra=%{http_code}\\n" https://extra.moat.test/flag',
      'curl -sS -o /dev/null -w "unlisted=%{http_connect}\\n" https://unlisted.moat.test/flag; true',
    ].join('\n');
    const r = await run(cwd, script, ['--allow-host', 'extra.moat.test']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('extra=200');
    expect(r.stdout).toContain('unlisted=403');
    expect(seen('extra.moat.test', '/flag')).toHaveLength(1);
  });

  it('network.jsonl has one line per request, allowed or refused, with method, url, status, blocked and reason', async () => {
    // (Path-rule refusals are logged too: see the daemon-crash test below.)
    const cwd = await ws('network:\n  policy: strict\n  rules:\n    - allowed.moat.test\n    - api.github.com\n');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'curl -s -o /dev/null https://allowed.moat.test/logged',
      'curl -s -o /dev/null https://unlisted.moat.test/refused',
      'curl -s -o /dev/null -X DELETE https://api.github.com/repos/o/r',
      'curl -s -o /dev/null "https://api.github.com/repos/o/r?page=2"',
      'true',
    ].join('\n');
    const r = await run(cwd, script);
    expect(r.code, r.stderr).toBe(0);
    const id = runIdOf(r.stdout);
    await waitNetLog(home, id, 4);
    await new Promise((res) => setTimeout(res, 500)); // nothing more arrives
    const lines = await readNetLog(home, id);
    expect(lines.map((l) => `${l.method} ${l.url} ${l.status}`)).toEqual([
      'GET https://allowed.moat.test/logged 200',
      'CONNECT unlisted.moat.test:443 403',
      'DELETE https://api.github.com/repos/o/r 200',
      'GET https://api.github.com/repos/o/r?page=2 200',
    ]);
    for (const l of lines) {
      expect(l.type).toBe('request');
      expect(Number.isNaN(Date.parse(l.ts))).toBe(false);
      expect(typeof l.durationMs).toBe('number');
    }
    expect(lines[0]!.blocked).toBeFalsy();
    expect(lines[1]).toMatchObject({ blocked: true, host: 'unlisted.moat.test' });
    expect(lines[1]!.reason).toMatch(/not in network\.rules.*strict/);
    expect(lines[2]!.blocked).toBeFalsy();
    expect(lines[3]!.blocked).toBeFalsy();
  });
});

describe('path rules (src bug: a refused path crashes the daemon)', () => {
  // src/gateway/forward.ts handleRequest: `finish()` reads `reqSample`/`resSample`, which are `const`s
  // declared further down; every early refusal (policy 403 on a path, 4xx from resolveTarget) calls
  // finish() before them -> "ReferenceError: Cannot access 'reqSample' before initialization", uncaught
  // in the request handler: the daemon exits and every live run loses its gateway. Own home, so the crash
  // cannot disturb the other tests.
  let crashHome: string;
  beforeAll(async () => {
    crashHome = await tempDir('gw-paths-home');
  });
  afterAll(async () => {
    await cleanupHome(crashHome, root);
  });

  it('an allowed path passes, a denied path or method gets 403 with X-Moat-Blocked, and the gateway keeps serving', async () => {
    const cwd = await ws('network:\n  policy: strict\n  rules:\n    - "api.github.com": ["allow GET /repos/**", "deny * /**"]\n');
    const script = [
      'echo RUN=$MOAT_RUN_ID',
      'curl -sS -o /dev/null -w "repos=%{http_code}\\n" "https://api.github.com/repos/o/r/pulls?state=open"',
      'curl -sS -D /tmp/h -o /tmp/b -w "user=%{http_code}\\n" https://api.github.com/user',
      'curl -sS -X POST -o /dev/null -w "post=%{http_code}\\n" https://api.github.com/repos/o/r/issues',
      'curl -sS -o /dev/null -w "again=%{http_code}\\n" https://api.github.com/repos/o/r/again',
      'grep -i "^x-moat-blocked:" /tmp/h; echo ===; cat /tmp/b',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '--', 'sh', '-c', script], { home: crashHome, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('repos=200');
    expect(r.stdout).toContain('user=403');
    expect(r.stdout).toMatch(/^x-moat-blocked: .*GET \/user.*deny \* \/\*\*/im);
    const body = r.stdout.split('===')[1]!;
    expect(body).toContain('Moat blocked');
    expect(body).toContain('- "allow GET /user"');
    expect(seen('api.github.com', '/user')).toHaveLength(0);
    // After a refusal the gateway still serves: a denied method, then an allowed path again.
    expect(r.stdout).toContain('post=403');
    expect(r.stdout).toContain('again=200');
    expect(seen('api.github.com', '/repos/o/r/issues')).toHaveLength(0);
    expect(seen('api.github.com', '/repos/o/r/again')).toHaveLength(1);
    const lines = await waitNetLog(crashHome, runIdOf(r.stdout), 4);
    expect(lines.map((l) => `${l.method} ${l.url} ${l.status} ${String(l.blocked ?? false)}`)).toEqual([
      'GET https://api.github.com/repos/o/r/pulls?state=open 200 false',
      'GET https://api.github.com/user 403 true',
      'POST https://api.github.com/repos/o/r/issues 403 true',
      'GET https://api.github.com/repos/o/r/again 200 false',
    ]);
    expect(lines[1]!.reason).toContain('deny * /**');
  });
});

describe('lifetime', () => {
  it('a detached run keeps being proxied after the CLI exits', async () => {
    const cwd = await ws();
    const r = await moat(
      ['run', '--approve-config', '-d', '--', 'sh', '-c', 'sleep 3; curl -sS -o /dev/null -w "late=%{http_code}\\n" https://allowed.moat.test/detached-late'],
      { home, cwd, env },
    );
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    expect(seen('allowed.moat.test', '/detached-late')).toHaveLength(0); // the CLI is gone before the request
    const lines = await waitNetLog(home, id, 1, 30_000);
    expect(lines[0]).toMatchObject({ method: 'GET', url: 'https://allowed.moat.test/detached-late', status: 200 });
    expect(seen('allowed.moat.test', '/detached-late')).toHaveLength(1);
    await waitFor(async () => (await readLogs(home, id)).some((l) => l.line.includes('late=200')), 15_000, 'late=200 in the logs');
  });

  it('`moat proxy restart` mid-run: a request after the restart still succeeds through the same mounted directory', async () => {
    const cwd = await ws();
    const script = [
      'curl -sS -o /dev/null -w "before=%{http_code}\\n" https://allowed.moat.test/before-restart',
      'i=0; while [ ! -e /workspace/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done',
      'curl -sS -o /dev/null -w "after=%{http_code}\\n" https://allowed.moat.test/after-restart',
    ].join('\n');
    const r = await moat(['run', '--approve-config', '-d', '--', 'sh', '-c', script], { home, cwd, env });
    expect(r.code, r.stderr).toBe(0);
    const { id } = parseDetached(r.stdout);
    await waitFor(() => seen('allowed.moat.test', '/before-restart').length === 1, 20_000, 'the request before the restart');
    const status1 = await moat(['proxy', 'status', '--json'], { home, cwd, env });
    const pid1 = (JSON.parse(status1.stdout) as { pid: number }).pid;

    const restart = await moat(['proxy', 'restart'], { home, cwd, env });
    expect(restart.code, restart.stderr).toBe(0);
    const status2 = await waitFor(
      async () => {
        const s = await moat(['proxy', 'status', '--json'], { home, cwd, env });
        const h = JSON.parse(s.stdout) as { running: boolean; pid: number; runs?: string[] };
        return h.running && h.runs?.includes(id) ? h : undefined;
      },
      15_000,
      'the run re-registered by the new daemon',
    );
    expect(status2.pid).not.toBe(pid1);

    await writeFile(join(cwd, 'go'), '');
    const lines = await waitNetLog(home, id, 2, 30_000);
    expect(lines.map((l) => `${l.url} ${l.status}`)).toEqual(['https://allowed.moat.test/before-restart 200', 'https://allowed.moat.test/after-restart 200']);
    expect(seen('allowed.moat.test', '/after-restart')).toHaveLength(1);
    await waitFor(async () => (await readLogs(home, id)).some((l) => l.line.includes('after=200')), 15_000, 'after=200 in the logs');
  });

  it("two concurrent runs with different policies cannot use each other's proxy", async () => {
    const script = (name: string) =>
      [
        'echo RUN=$MOAT_RUN_ID',
        'echo "NET=$(ls -A /moat/net | tr "\\n" " ")"',
        'echo "SOCKS=$(find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null | sort | tr "\\n" " ")"',
        'echo "MNT=$(grep " /moat/net " /proc/self/mountinfo | cut -d" " -f4)"',
        'i=0; while [ ! -e /workspace/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done',
        `curl -s -o /dev/null -w "${name}-other=%{http_connect}/%{http_code}\\n" https://other.moat.test/from-${name}; true`,
      ].join('\n');
    const cwdA = await ws('network:\n  policy: strict\n  rules:\n    - allowed.moat.test\n');
    const cwdB = await ws('network:\n  policy: permissive\n');
    const [ra, rb] = await Promise.all([
      moat(['run', '--approve-config', '-d', '--', 'sh', '-c', script('a')], { home, cwd: cwdA, env }),
      moat(['run', '--approve-config', '-d', '--', 'sh', '-c', script('b')], { home, cwd: cwdB, env }),
    ]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const a = parseDetached(ra.stdout).id;
    const b = parseDetached(rb.stdout).id;
    const logText = async (id: string) => (await readLogs(home, id)).map((l) => l.line).join('\n');
    const [la, lb] = await Promise.all(
      [a, b].map((id) =>
        waitFor(
          async () => {
            const t = await logText(id);
            return t.includes('MNT=') ? t : undefined;
          },
          20_000,
          `${id} reports its mounts`,
        ),
      ),
    );

    // Host side, both live: each socket is 0600 in a 0700 directory of its own run.
    for (const id of [a, b]) {
      const dir = join(home, 'runs', id, 'net');
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const sock = statSync(join(dir, 'proxy.sock'));
      expect(sock.isSocket()).toBe(true);
      expect(sock.mode & 0o777).toBe(0o600);
    }
    // Container side: only its own socket directory is there.
    for (const [text, own, other] of [
      [la!, a, b],
      [lb!, b, a],
    ] as const) {
      expect(text).toContain(`RUN=${own}`);
      expect(text).toMatch(/^NET=proxy\.sock $/m);
      expect(text).toMatch(/^SOCKS=\/moat\/net\/proxy\.sock $/m);
      expect(text).not.toContain(other);
    }
    await Promise.all([writeFile(join(cwdA, 'go'), ''), writeFile(join(cwdB, 'go'), '')]);
    const [fa, fb] = await Promise.all(
      [a, b].map((id, i) =>
        waitFor(
          async () => {
            const t = await logText(id);
            return t.includes(`${i === 0 ? 'a' : 'b'}-other=`) ? t : undefined;
          },
          20_000,
          `${id} tried other.moat.test`,
        ),
      ),
    );
    expect(fa).toContain('a-other=403/000'); // strict run: refused at CONNECT
    expect(fb).toContain('b-other=200/200'); // permissive run: allowed
    expect(seen('other.moat.test', '/from-a')).toHaveLength(0);
    expect(seen('other.moat.test', '/from-b')).toHaveLength(1);
    // When the runs end their socket directories go.
    for (const id of [a, b]) {
      await waitFor(
        async () => {
          const m = await readMetadata(home, id);
          return m.state === 'stopped' && !(await containerExists(m.containerId as string).catch(() => true));
        },
        20_000,
        `${id} stopped and removed`,
      );
      await waitFor(
        () => {
          try {
            statSync(join(home, 'runs', id, 'net', 'proxy.sock'));
            return false;
          } catch {
            return true;
          }
        },
        10_000,
        `${id} socket removed`,
      );
    }
  });
});

describe('daemon idle exit during a first image build (src bug)', () => {
  // executeRun (src/run/execute.ts) starts the daemon before ensureImage; a build longer than the daemon's
  // idle time (no runs yet) lets it exit, and watchRun then fails with "connect ENOENT …/daemon.sock".
  it('a run whose image build outlasts the daemon idle time still starts', async () => {
    const h = await tempDir('gw-idle-home');
    const cwd = await makeWorkspace(root, 'idle', '');
    await writeFile(join(cwd, 'moat.yaml'), 'dependencies: [jq]\n');
    try {
      const r = await moat(['run', '--approve-config', '--rebuild', '--', 'sh', '-c', 'echo built-and-ran'], {
        home: h,
        cwd,
        env: { ...env, MOAT_DAEMON_IDLE_MS: '1000' },
        timeoutMs: 300_000,
      });
      expect(r.stderr).not.toContain('daemon.sock');
      expect(r.stdout).toContain('built-and-ran');
      expect(r.code).toBe(0);
    } finally {
      await cleanupHome(h, cwd);
    }
  }, 300_000);
});
