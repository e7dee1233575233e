/**
 * The parts of the build boundary that need no engine: the build policy's hosts, the build's trace (caps,
 * terminal safety) and the daemon taking a build's requests over into a run's trace and audit.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APT_HOSTS, NPM_HOSTS, PYPI_HOSTS, recipeHosts } from '../../../src/image/build-hosts.js';
import { BuildTrace, MAX_BUILD_ENTRIES, describe as describeRequest } from '../../../src/image/build-trace.js';
import { expand } from '../../../src/deps/parse.js';
import { REGISTRY } from '../../../src/deps/registry.js';
import { NetworkRecorder } from '../../../src/daemon/network-recorder.js';
import type { RequestEvent } from '../../../src/gateway/events.js';
import { buildAllowHosts, buildPolicy } from '../../../src/image/build-gateway.js';
import { compilePolicy } from '../../../src/gateway/policy.js';

const tmp = (): Promise<string> => mkdtemp(join(tmpdir(), 'moat-build-boundary-'));

const request = (over: Partial<RequestEvent> = {}): RequestEvent => ({
  type: 'request',
  ts: '2026-12-02T00:00:00.000Z',
  method: 'GET',
  url: 'http://deb.debian.org/debian/dists/bookworm/InRelease',
  host: 'deb.debian.org',
  status: 200,
  ttfbMs: 5,
  durationMs: 9,
  bytesUp: 0,
  bytesDown: 100,
  ...over,
});

describe('build policy hosts', () => {
  it('a recipe without dependencies reaches only the Debian and Ubuntu archives (moat layer)', () => {
    expect(recipeHosts([])).toEqual([...APT_HOSTS].sort());
  });

  it('npm packages add the npm registry, pip packages PyPI, and script downloads their own hosts', () => {
    expect(recipeHosts(expand(['npm:typescript']))).toEqual(expect.arrayContaining(NPM_HOSTS));
    expect(recipeHosts(expand(['npm:typescript']))).not.toEqual(expect.arrayContaining(PYPI_HOSTS));
    expect(recipeHosts(expand(['uv']))).toEqual(expect.arrayContaining(PYPI_HOSTS));
    expect(recipeHosts(expand(['go']))).toEqual(expect.arrayContaining(['go.dev', 'dl.google.com']));
    expect(recipeHosts(expand(['git']))).toEqual([...APT_HOSTS].sort());
  });

  it('a host named without a port is reachable on 80 and 443 only (CONNECT deb.debian.org:22 is refused); a named port is kept', () => {
    const policy = compilePolicy({
      policy: 'strict',
      rules: [],
      deny: [],
      allowHosts: buildAllowHosts(['deb.debian.org', '*.corp.example', 'mirror.example.net:8080']),
    });
    expect(policy.checkHost('deb.debian.org', 443).allowed).toBe(true);
    expect(policy.checkHost('deb.debian.org', 80).allowed).toBe(true);
    expect(policy.checkHost('deb.debian.org', 22).allowed).toBe(false);
    expect(policy.checkHost('deb.debian.org', 8080).allowed).toBe(false);
    expect(policy.checkHost('apt.corp.example', 443).allowed).toBe(true);
    expect(policy.checkHost('apt.corp.example', 25).allowed).toBe(false);
    expect(policy.checkHost('mirror.example.net', 8080).allowed).toBe(true);
    expect(policy.checkHost('mirror.example.net', 443).allowed).toBe(false);
  });

  it('a build step fetches and never posts: GET and HEAD pass, POST/PUT/PATCH/DELETE to an allowed host are refused; a named port keeps every method', () => {
    const policy = compilePolicy(buildPolicy(['registry.npmjs.org', '*.corp.example', 'mirror.example.net:8080']));
    expect(policy.checkHost('registry.npmjs.org', 443).allowed).toBe(true);
    expect(policy.checkHost('registry.npmjs.org', 22).allowed).toBe(false);
    expect(policy.checkRequest('registry.npmjs.org', 443, 'GET', '/typescript').allowed).toBe(true);
    expect(policy.checkRequest('registry.npmjs.org', 443, 'HEAD', '/typescript').allowed).toBe(true);
    expect(policy.checkRequest('apt.corp.example', 80, 'GET', '/debian/dists/bookworm/InRelease').allowed).toBe(true);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'post']) {
      const d = policy.checkRequest('registry.npmjs.org', 443, method, '/-/npm/v1/security/advisories/bulk');
      expect(d.allowed, method).toBe(false);
      expect(d.kind).toBe('path');
    }
    expect(policy.checkRequest('mirror.example.net', 8080, 'POST', '/upload').allowed).toBe(true);
    expect(policy.checkRequest('elsewhere.example', 443, 'GET', '/').allowed).toBe(false);
  });

  it('every registry entry that downloads from beyond the registries names its hosts', () => {
    for (const e of REGISTRY) if (e.needsInternet) expect(e.hosts?.length ?? 0, e.name).toBeGreaterThan(0);
  });
});

describe('build trace', () => {
  it('records each request as one capped canonical line marked phase build, and a readable log line', async () => {
    const file = join(await tmp(), 'b.network.jsonl');
    const t = new BuildTrace(file);
    expect(t.record(request())).toBe('moat: net GET http://deb.debian.org/debian/dists/bookworm/InRelease 200');
    expect(
      t.record(request({ method: 'CONNECT', url: 'evil.example:443', host: 'evil.example', status: 403, blocked: true, reason: 'not in the allowed hosts' })),
    ).toBe('moat: net refused CONNECT evil.example:443 (not in the allowed hosts)');
    expect(t.record({ type: 'connect', ts: '', host: 'x', port: 1, allowed: true })).toBeUndefined();
    await t.close();
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.phase === 'build')).toBe(true);
    expect([...t.refused.keys()]).toEqual(['evil.example']);
  });

  it('a hostile URL cannot write terminal escapes into the build log, and long URLs are cut', async () => {
    const t = new BuildTrace(join(await tmp(), 'b.jsonl'));
    const line = t.record(request({ url: `http://x.test/\u001b]0;owned\u0007${'a'.repeat(5000)}` })) as string;
    await t.close();
    expect(line).not.toContain('\u001b');
    expect(line).not.toContain('\u0007');
    expect(line.length).toBeLessThan(400);
    expect(describeRequest(request({ error: 'ECONNREFUSED', status: 502 }))).toContain('failed (ECONNREFUSED)');
  });

  it(`past ${MAX_BUILD_ENTRIES} requests a build's flood is counted in one closing line`, async () => {
    const file = join(await tmp(), 'b.jsonl');
    const t = new BuildTrace(file);
    for (let i = 0; i < MAX_BUILD_ENTRIES + 500; i++) t.record(request({ blocked: i % 2 === 0, status: 403, host: `h${i % 300}.test` }));
    await t.close();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(MAX_BUILD_ENTRIES + 1);
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ type: 'dropped', phase: 'build', count: 500, blocked: 250 });
    expect(t.refused.size).toBe(100);
  });
});

describe("the daemon takes a build's requests over", () => {
  it('build lines join the trace and the audit (refusals as policy entries); anything else in the file is skipped', async () => {
    const d = await tmp();
    const src = join(d, 'build-network.jsonl');
    const good = JSON.stringify({ ...request(), phase: 'build' });
    const refused = JSON.stringify({
      ...request({ host: '127.0.0.1', url: 'http://127.0.0.1:9/', status: 403, blocked: true, reason: 'internal address' }),
      phase: 'build',
    });
    await writeFile(
      src,
      [good, 'not json', JSON.stringify({ ...request(), phase: 'run' }), `{"phase":"build","x":"${'a'.repeat(70_000)}"}`, refused, ''].join('\n'),
    );
    const audit: Array<{ type: string; data: unknown }> = [];
    const net = await NetworkRecorder.open({
      file: join(d, 'network.jsonl'),
      audit: {
        append: (type, data) => audit.push({ type, data }) > 0,
        appendEncoded: (type, line) => audit.push({ type, data: JSON.parse(line) as unknown }) > 0,
      },
      log: () => undefined,
    });
    expect(await net.recordBuild(src)).toBe(2);
    await net.close();
    const trace = (await readFile(join(d, 'network.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { host: string; phase: string });
    expect(trace.map((t) => [t.host, t.phase])).toEqual([
      ['deb.debian.org', 'build'],
      ['127.0.0.1', 'build'],
    ]);
    expect(audit.map((a) => a.type)).toEqual(['network', 'network', 'policy']);
    expect(audit[2]?.data).toEqual({ decision: 'deny', phase: 'build', host: '127.0.0.1', reason: 'internal address' });
  });
});
