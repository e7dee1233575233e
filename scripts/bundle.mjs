// Bundles the compiled CLI and daemon (dist/cli/main.js, dist/daemon/main.js) into dist/bundle/. Node 20
// pays for every module file it resolves and compiles (about 125 ms of `moat run`'s start-up for ~200
// files; BENCHMARKS.md). The rest of dist/ stays as tsc wrote it (assets, worker entries and the unbundled
// modules tests import).
// Each is one CommonJS script, dist/bundle/NAME.cjs, that bin/moat and dist/daemon/launch.js compile with
// V8's code cache (src/code-cache.ts), which Node 20 offers only for scripts; dist/bundle/NAME.id is its
// content's hash, the cache's key. Large libraries the CLI seldom loads stay packages (required when used).
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
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!args.path.startsWith(dist + '/') || !text.includes('import.meta.url')) return { contents: text, loader: 'js' };
      const rel = JSON.stringify(relative(outdir, args.path).split('\\').join('/'));
      return { contents: text.replaceAll('import.meta.url', `__moatModuleUrl(${rel})`), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });

/** Bundles `entry` into dist/bundle/NAME.cjs and writes its id; refuses what the code cache cannot run. */
async function bundleScript(name, entry, moreExternal = []) {
  await build({
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    legalComments: 'none',
    entryPoints: { [name]: resolve(dist, entry) },
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    // A package loaded with import() (the AWS SDK) is required instead: a script compiled from V8's code
    // cache has lost its dynamic import callback on Node 20 (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
    supported: { 'dynamic-import': false },
    // The keyring's native binding is found at run time by platform: it stays a package.
    // The AWS SDK loads its parts by package at run time (its credential chain is not a function once bundled).
    external: ['@napi-rs/keyring', '@aws-sdk/*', '@smithy/*', ...moreExternal],
    // A declaration at the end (hoisted), so that the script still begins with "use strict": every module
    // in it runs in strict mode, as ES modules do.
    footer: { js: "function __moatModuleUrl(rel) { return require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href; }" },
    plugins: [keepModuleUrls],
  });
  const file = resolve(outdir, `${name}.cjs`);
  // esbuild writes code in ASCII but keeps some comments as they are: lines of comment have their other
  // characters made `?`, so the script is usually all ASCII, read as one byte per character (src/code-cache.ts).
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => (/[^\t-~]/.test(line) && /^\s*(\*|\/\/|\/\*)/.test(line) ? line.replace(/[^\t-~]/g, '?') : line))
    .join('\n');
  writeFileSync(file, text);
  if (!text.startsWith('"use strict";')) throw new Error(`${file} does not begin with "use strict"`);
  // Outside comments (a library's JSDoc names types as `import('node:stream').Duplex`).
  const dynamicImport = text.split('\n').find((line) => !/^\s*(\*|\/\/|\/\*)/.test(line) && /\bimport\(\s*["'`]/.test(line));
  if (dynamicImport) throw new Error(`${file} still has an import() (${dynamicImport.trim().slice(0, 80)}): it fails once it runs from its code cache`);
  writeFileSync(resolve(outdir, `${name}.id`), createHash('sha256').update(text).digest('hex') + '\n');
}

// The CLI reads its bundle at every start: the HTTP client (the gateway's, for image builds) and the X.509
// library (the CA) are a third of it and rarely loaded by the CLI (CommonJS packages, required when used).
await bundleScript('cli', 'cli/main.js', ['undici', '@peculiar/x509', 'reflect-metadata']);
await bundleScript('daemon', 'daemon/main.js');
