// Bundles the compiled CLI and daemon (dist/cli/main.js, dist/daemon/main.js) into dist/bundle/. Node 20
// pays for every module file it resolves and compiles (about 125 ms of `moat run`'s start-up for ~200
// files; BENCHMARKS.md). The rest of dist/ stays as tsc wrote it (assets, worker entries and the unbundled
// modules tests import).
// - The CLI is one CommonJS script, dist/bundle/cli.cjs: bin/moat compiles it with V8's code cache
//   (src/cli/code-cache.ts), which Node 20 offers only for scripts. dist/bundle/cli.id is its content's hash,
//   the cache's key. Large libraries only some commands load stay packages (required when used).
// - The daemon is an ES module and a chunk per lazily imported part (it starts rarely).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const dist = resolve(root, 'dist');
const outdir = resolve(dist, 'bundle');

/**
 * Each compiled module keeps the location it had in dist/: `import.meta.url` becomes that file's URL
 * (computed from the bundle's own location), so paths to assets, the daemon and workers resolve as before.
 */
const keepModuleUrls = (format) => ({
  name: 'keep-module-urls',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!args.path.startsWith(dist + '/') || !text.includes('import.meta.url')) return { contents: text, loader: 'js' };
      const rel = JSON.stringify(relative(outdir, args.path).split('\\').join('/'));
      const url = format === 'esm' ? `new URL(${rel}, import.meta.url).href` : `__moatModuleUrl(${rel})`;
      return { contents: text.replaceAll('import.meta.url', url), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
});

const common = {
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
};
// The keyring's native binding is found at run time by platform: it stays a package import.
// The AWS SDK loads its parts by package at run time (its credential chain is not a function once bundled).
const external = ['@napi-rs/keyring', '@aws-sdk/*', '@smithy/*'];

rmSync(outdir, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { daemon: resolve(dist, 'daemon/main.js') },
  splitting: true,
  format: 'esm',
  external,
  banner: { js: "import { createRequire as __moatRequire } from 'node:module'; const require = __moatRequire(import.meta.url);" },
  plugins: [keepModuleUrls('esm')],
});
await build({
  ...common,
  entryPoints: { cli: resolve(dist, 'cli/main.js') },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // A package loaded with import() (the AWS SDK) is required instead: a script compiled from V8's code
  // cache has lost its dynamic import callback on Node 20 (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
  supported: { 'dynamic-import': false },
  // Read at every start: the HTTP client (the gateway's, for image builds) and the X.509 library (the CA)
  // are a third of the bundle and rarely loaded by the CLI (CommonJS packages, required when used).
  external: [...external, 'undici', '@peculiar/x509', 'reflect-metadata'],
  // A declaration at the end (hoisted), so that the script still begins with "use strict": every module
  // in it runs in strict mode, as ES modules do.
  footer: { js: "function __moatModuleUrl(rel) { return require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href; }" },
  plugins: [keepModuleUrls('cjs')],
});
const cli = resolve(outdir, 'cli.cjs');
// esbuild writes code in ASCII but keeps a few comments as they are: their other characters become `?`, so
// the script is all ASCII, which bin/moat reads as one byte per character (src/cli/code-cache.ts).
const text = readFileSync(cli, 'utf8')
  .split('\n')
  .map((line) => (/[^\t-~]/.test(line) && /^\s*(\/\/|\/\*)/.test(line) ? line.replace(/[^\t-~]/g, '?') : line))
  .join('\n');
writeFileSync(cli, text);
if (!text.startsWith('"use strict";')) throw new Error(`${cli} does not begin with "use strict"`);
const dynamicImport = /\bimport\(\s*["'`]/.exec(text);
if (dynamicImport)
  throw new Error(
    `${cli} still has an import() (${text.slice(dynamicImport.index, dynamicImport.index + 60)}): it fails once the CLI runs from its code cache`,
  );
writeFileSync(resolve(outdir, 'cli.id'), createHash('sha256').update(text).digest('hex') + '\n');
