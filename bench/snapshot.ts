/**
 * Workspace snapshots against `tar -c` of the same tree (piped to /dev/null through cat, so tar reads every
 * file: GNU tar skips reading when its archive is /dev/null itself). Prints numbers, asserts nothing.
 * BENCH_FILES (default 10000) files totalling BENCH_MB (default 500) MB, in 100 folders.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MoatHome } from '../src/home/paths.js';
import { DEFAULT_LIMITS } from '../src/snapshot/limits.js';
import { snapshotWorkspace } from '../src/snapshot/service.js';

const files = Number(process.env.BENCH_FILES ?? 10_000);
const mb = Number(process.env.BENCH_MB ?? 500);
const dir = await mkdtemp(join(tmpdir(), 'moat-bench-snap-'));
const ws = join(dir, 'ws');
const home = new MoatHome(join(dir, 'home'));
const settings = { exclude: [], limits: DEFAULT_LIMITS };
const size = Math.floor((mb * 1024 * 1024) / files);
try {
  for (let d = 0; d < 100; d++) await mkdir(join(ws, `d${d}`), { recursive: true });
  const chunk = randomBytes(size);
  for (let i = 0; i < files; i++) {
    chunk.writeUInt32LE(i, 0);
    await writeFile(join(ws, `d${i % 100}`, `f${i}`), chunk);
  }
  await new Promise((r) => setTimeout(r, 300)); // past the racy-timestamp window
  const time = async (f: () => unknown): Promise<number> => {
    const t = performance.now();
    await f();
    return performance.now() - t;
  };
  const tar = await time(() => execFileSync('sh', ['-c', `tar -cf - -C ${ws} . | cat > /dev/null`]));
  const first = await time(() => snapshotWorkspace(home, ws, settings));
  const again = await time(() => snapshotWorkspace(home, ws, settings));
  await writeFile(join(ws, 'd0', 'f0'), 'changed');
  const oneChanged = await time(() => snapshotWorkspace(home, ws, settings));
  const tar2 = await time(() => execFileSync('sh', ['-c', `tar -cf - -C ${ws} . | cat > /dev/null`]));
  const t = Math.min(tar, tar2);
  console.log(`workspace: ${files} files, ${mb} MB`);
  console.log(`tar -c | cat > /dev/null: ${t.toFixed(0)} ms (best of 2: ${tar.toFixed(0)}, ${tar2.toFixed(0)})`);
  console.log(`first snapshot:           ${first.toFixed(0)} ms (${(first / t).toFixed(2)}x tar; target <= 1.5x)`);
  console.log(`unchanged re-snapshot:    ${again.toFixed(0)} ms (target <= 300 ms; also the added start-up of a run)`);
  console.log(`one file changed:         ${oneChanged.toFixed(0)} ms`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
