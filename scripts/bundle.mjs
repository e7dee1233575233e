// Bundles the compiled CLI and daemon (dist/cli/main.js, dist/daemon/main.js) into dist/bundle/: one file
// each for what they load at start and a chunk per lazily imported part. Node 20 pays for every module file
// it resolves and loads (about 125 ms of `moat run`'s start-up for ~200 files; BENCHMARKS.md). The rest of
// dist/ stays as tsc wrote it (assets, worker entries and the unbundled modules tests import).
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const dist = resolve(root, 'dist');
const outdir = resolve(dist, 'bundle');

/**
 * Each compiled module keeps the location it had in dist/: `import.meta.url` becomes that file's URL
 * (computed from the chunk's own URL), so paths to assets, the daemon and workers resolve as before.
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!args.path.startsWith(dist + '/') || !text.includes('import.meta.url')) return { contents: text, loader: 'js' };
      const rel = relative(outdir, args.path).split('\\').join('/');
      return {
        contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
        loader: 'js',
        resolveDir: dirname(args.path),
      };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: resolve(dist, 'cli/main.js'), daemon: resolve(dist, 'daemon/main.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The keyring's native binding is found at run time by platform: it stays a package import.
  // The AWS SDK loads its parts by package at run time (its credential chain is not a function once bundled).
  external: ['@napi-rs/keyring', '@aws-sdk/*', '@smithy/*'],
  banner: { js: "import { createRequire as __moatRequire } from 'node:module'; const require = __moatRequire(import.meta.url);" },
  plugins: [keepModuleUrls],
  logLevel: 'warning',
  legalComments: 'none',
});
