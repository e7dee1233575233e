/**
 * Writes schema/moat.schema.json from the zod schema in src/config/schema.ts.
 * Run with `npm run schema`; commit the output. Pass `--check` to fail when the file is stale (CI).
 *
 * Users enable editor validation with the modeline
 *   # yaml-language-server: $schema=<path or URL>/moat.schema.json
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MOAT_SCHEMA_FILE, moatJsonSchemaText } from '../src/config/schema-json.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'schema', MOAT_SCHEMA_FILE);
const text = moatJsonSchemaText();

if (process.argv.includes('--check')) {
  const current = await readFile(out, 'utf8').catch(() => '');
  if (current !== text) {
    process.stderr.write(`${path.relative(root, out)} is stale; run: npm run schema\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`${path.relative(root, out)} is up to date\n`);
  }
} else {
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, text);
  process.stdout.write(`wrote ${path.relative(root, out)}\n`);
}
