/**
 * Starting one of the snapshot's worker threads (store-worker.ts, walk-worker.ts): compiled (dist/, bundled
 * or not: the bundle keeps each module's URL), the .js beside this module; from the sources (tests,
 * benchmarks), the .ts through tsx.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * A thread running the module `name` (without extension) of this folder, or `entry` (tests).
 * `handsDescriptors`: it opens descriptors that another thread closes (the second walker hands folders
 * back), so they are not tracked as its own: else it would close them again when it ends, by then maybe
 * another file's.
 */
export function snapshotWorker(name: string, workerData: unknown, entry?: URL, handsDescriptors = false): Worker {
  const options = { workerData, trackUnmanagedFds: !handsDescriptors };
  if (entry) return new Worker(entry, options);
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, import.meta.url), options);
  // (require.resolve finds tsx's CommonJS build; the ES module build is beside it.)
  const tsx = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const module = new URL(`./${name}.ts`, import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(module)}); });`;
  return new Worker(code, { ...options, eval: true });
}
