/**
 * The daemon process's entry (`node dist/daemon/launch.js __daemon`, spawned by client.ts): runs the bundled
 * daemon (scripts/bundle.mjs) through V8's code cache (code-cache.ts), else, when nothing was bundled (tsc
 * alone), its compiled modules. `__daemon` only tags the process for lock.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { privateCacheDir, runCachedScript } from '../code-cache.js';

const bundled = fileURLToPath(new URL('../bundle/daemon.cjs', import.meta.url));
if (existsSync(bundled)) {
  let id = ''; // none (a build that stopped half-way): the script runs compiled, without a cache
  try {
    id = readFileSync(fileURLToPath(new URL('../bundle/daemon.id', import.meta.url)), 'utf8').trim();
  } catch {
    // compiled without a cache
  }
  runCachedScript(bundled, id, 'daemon', process.env.MOAT_CODE_CACHE === '0' ? undefined : privateCacheDir('code-cache'));
} else {
  await import('./main.js');
}
