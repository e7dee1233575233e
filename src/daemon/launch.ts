/**
 * The daemon process's entry (`node dist/daemon/launch.js __daemon`, spawned by client.ts): runs the bundled
 * daemon (scripts/bundle.mjs) through V8's code cache (code-cache.ts), else, when nothing was bundled (tsc
 * alone), its compiled modules. `__daemon` only tags the process for lock.ts.
 */
import { fileURLToPath } from 'node:url';
import { runBundle } from '../code-cache.js';

if (!runBundle(fileURLToPath(new URL('../bundle/daemon.cjs', import.meta.url)), 'daemon')) await import('./main.js');
