/**
 * Start-up guard: what `moat run` loads before it does anything. Heavy libraries (the config schema and
 * YAML parser, the HTTP client, the Docker SDK, prompts, tables, spinners) must stay behind dynamic
 * imports; one static import of them costs tens of milliseconds on every command (see BENCHMARKS.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

/** Every module statically reachable from `entry`, and the packages they import. */
function staticGraph(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const walk = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(STATIC_IMPORT)) {
      const spec = m[1] ?? '';
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        const ts = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        if (existsSync(ts)) walk(ts);
        continue;
      }
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);
      if (!packages.has(pkg)) packages.set(pkg, file.slice(ROOT.length + 1));
    }
  };
  walk(entry);
  return { files, packages };
}

describe('CLI start-up graph', () => {
  it('loads no heavy library statically', () => {
    const { files, packages } = staticGraph(resolve(ROOT, 'src/cli/main.ts'));
    expect(files.size).toBeGreaterThan(10); // the walk really followed the imports
    const heavy = ['zod', 'yaml', 'fastest-levenshtein', 'undici', 'dockerode', 'cli-table3', '@inquirer/prompts', 'ora', '@peculiar/x509', '@napi-rs/keyring'];
    const loaded = heavy.filter((p) => packages.has(p)).map((p) => `${p} (from ${packages.get(p) ?? '?'})`);
    expect(loaded).toEqual([]);
  });
});
