// The load client of bench:proxy, in plain JavaScript so that the same code runs on the host (direct, or
// through a bare gateway's unix socket) and inside a moat run (Debian's Node, through moat-init's relay).
// One argument: JSON {target: "host:port" (direct) | undefined, proxy: "unix:PATH" | "tcp:HOST:PORT",
// host, authority (of CONNECT; default host:443), ca (PEM file), phases: [{concurrency, warmup, total}], sse: N,
// progress: true (a `progress N` line after each phase)}. Prints one JSON line of results.
// Keep-alive HTTP/1.1 over TLS, each connection opened either straight to the target or with CONNECT.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

const opts = JSON.parse(process.argv[2] ?? '{}');
const ca = readFileSync(opts.ca, 'utf8');
const host = opts.host;

function openTls(socket, cb) {
  const s = tls.connect({
    socket,
    host: socket ? undefined : opts.target.split(':')[0],
    port: socket ? undefined : Number(opts.target.split(':')[1]),
    servername: host,
    ca,
    ALPNProtocols: ['http/1.1'],
  });
  s.once('secureConnect', () => cb(null, s));
  s.once('error', (e) => cb(e));
}

/** A connection to `host:443`: TLS straight to the target, or TLS inside a CONNECT tunnel through the proxy. */
function connect(_options, cb) {
  if (opts.target) {
    openTls(undefined, cb);
    return undefined;
  }
  const where = opts.proxy.startsWith('unix:')
    ? { socketPath: opts.proxy.slice(5) }
    : { host: opts.proxy.slice(4).split(':')[0], port: Number(opts.proxy.slice(4).split(':')[1]) };
  const authority = opts.authority ?? `${host}:443`;
  const req = http.request({ ...where, method: 'CONNECT', path: authority, headers: { host: authority }, agent: false });
  req.once('connect', (res, socket) => {
    if (res.statusCode !== 200) return cb(new Error(`CONNECT answered ${res.statusCode}`));
    openTls(socket, cb);
  });
  req.once('error', (e) => cb(e));
  req.end();
  return undefined;
}

function makeAgent(concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  agent.createConnection = connect;
  return agent;
}

function get(agent, path, onData) {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, method: 'GET', path, headers: { host } }, (res) => {
      res.on('data', (c) => onData?.(c));
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function load(agent, concurrency, total) {
  const lat = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        const t0 = performance.now();
        const status = await get(agent, '/small');
        if (status !== 200) throw new Error(`GET /small answered ${status}`);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: total / secs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function firstSse(agent, runs) {
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const t0 = performance.now();
    let first = 0;
    await get(agent, '/sse?n=2&interval=0', (chunk) => {
      if (first === 0 && String(chunk).includes('\n\n')) first = performance.now() - t0;
    });
    times.push(first);
  }
  times.sort((a, b) => a - b);
  return pct(times, 50);
}

const out = { node: process.version, load: [] };
for (const phase of opts.phases) {
  const agent = makeAgent(phase.concurrency);
  await load(agent, phase.concurrency, phase.warmup);
  out.load.push({ concurrency: phase.concurrency, total: phase.total, ...(await load(agent, phase.concurrency, phase.total)) });
  agent.destroy();
  // progress: one line per phase (bench:memory samples the daemon's memory between phases).
  if (opts.progress) process.stdout.write(`progress ${out.load.length}\n`);
}
if (opts.sse) {
  const agent = makeAgent(1);
  await firstSse(agent, 5);
  out.sse = await firstSse(agent, opts.sse);
  agent.destroy();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
