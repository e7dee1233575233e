/**
 * Whether a snapshot walk's work spreads over cores here: the same system calls over 20,000 small files
 * (BENCH_FILES), done by one thread, by two threads of one process (half each), and by two processes
 * (half each). Three kinds of work: lstat only (looking at names), open + fstat + read + close (reading
 * files), and that plus sha256 and an append to a file of its own (storing them, as the walk does). Prints
 * milliseconds (best of BENCH_RUNS, default 3); asserts nothing.
 *
 *   npm run bench:walk-scaling
 */
import { Buffer } from 'node:buffer';
import { execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants as C, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const buf = Buffer.allocUnsafe(1 << 16);
const KINDS = {
  lstat: (f) => lstatSync(f),
  read: (f) => {
    const fd = openSync(f, C.O_RDONLY | C.O_NOFOLLOW);
    fstatSync(fd);
    readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
  },
};
function store(out) {
  return (f) => {
    const fd = openSync(f, C.O_RDONLY | C.O_NOFOLLOW);
    fstatSync(fd);
    const n = readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    createHash('sha256').update(buf.subarray(0, n)).digest();
    writeSync(out, buf, 0, n);
  };
}

/** Do `kind` over every other file from `part`; milliseconds. */
function work(kind, files, part, scratchDir) {
  const out = kind === 'store' ? openSync(join(scratchDir, `pack-${process.pid}-${part}-${Math.random()}`), 'w') : -1;
  const fn = kind === 'store' ? store(out) : KINDS[kind];
  const t = performance.now();
  for (let i = part; i < files.length; i += 2) fn(files[i]);
  const ms = performance.now() - t;
  if (out >= 0) closeSync(out);
  return ms;
}

if (!isMainThread) parentPort.postMessage(work(workerData.kind, workerData.files, workerData.part, workerData.scratch));
else if (process.argv[2] === 'child') {
  process.once('message', (m) => {
    process.send(work(m.kind, m.files, m.part, m.scratch));
  });
} else {
  const count = Number(process.env.BENCH_FILES ?? 20_000);
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const root = mkdtempSync(join(tmpdir(), 'moat-walk-scaling-'));
  try {
    const files = [];
    for (let d = 0; d < count / 20; d++) {
      const dir = join(root, 'ws', `d${d}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 20; i++) {
        const f = join(dir, `f${i}.js`);
        writeFileSync(f, Buffer.alloc(200 + ((d * 20 + i) % 60) * 100, d + i));
        files.push(f);
      }
    }
    const scratch = join(root, 'packs');
    mkdirSync(scratch);
    execFileSync('sync');
    const thread = (kind, part) =>
      new Promise((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { kind, files, part, scratch } });
        w.once('message', (ms) => void w.terminate().then(() => resolve(ms)));
        w.once('error', reject);
      });
    const proc = (kind, part) =>
      new Promise((resolve, reject) => {
        const c = fork(new URL(import.meta.url).pathname, ['child'], { serialization: 'advanced' });
        c.once('message', (ms) => {
          c.kill();
          resolve(ms);
        });
        c.once('error', reject);
        c.send({ kind, files, part, scratch });
      });
    console.log(`${count} files, ${cpus().length} cores, load average ${loadavg()[0].toFixed(2)}; best of ${runs}; two = the slower half`);
    for (const kind of ['lstat', 'read', 'store']) {
      const one = [];
      const threads = [];
      const procs = [];
      for (let r = 0; r < runs; r++) {
        one.push(work(kind, files, 0, scratch) + work(kind, files, 1, scratch));
        threads.push(Math.max(...(await Promise.all([thread(kind, 0), thread(kind, 1)]))));
        procs.push(Math.max(...(await Promise.all([proc(kind, 0), proc(kind, 1)]))));
        rmSync(scratch, { recursive: true, force: true });
        mkdirSync(scratch);
      }
      const best = (xs) => Math.min(...xs);
      console.log(
        `${kind.padEnd(6)} one thread ${best(one).toFixed(0)} ms; two threads ${best(threads).toFixed(0)} ms (x${(best(one) / best(threads)).toFixed(2)}); two processes ${best(procs).toFixed(0)} ms (x${(best(one) / best(procs)).toFixed(2)})`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
