/**
 * The layer map (.dependency-cruiser.cjs) bites: `npm run lint` runs the same depcruise command, and here it
 * runs on small trees shaped like src/. A tree that breaks the rules fails with exactly those violations;
 * one that follows them passes (so the rules do not simply refuse everything).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const TSCONFIG = JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] });

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Write `files` (path under the tree -> source) and run the lint's depcruise command on its src/. */
async function cruise(files: Record<string, string>): Promise<{ code: number; violations: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'moat-layers-'));
  dirs.push(dir);
  await writeFile(join(dir, 'tsconfig.json'), TSCONFIG);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return new Promise((done, fail) => {
    // The exact command of `npm run lint`, with its default (text) output.
    execFile(
      process.execPath,
      [DEPCRUISE, 'src', '--config', CONFIG, '--output-type', 'err-long'],
      { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 16 << 20 },
      (err, stdout) => {
        if (err && typeof err.code !== 'number') return fail(err);
        // `  error RULE: FROM → TO` (a cycle continues with one `→ MODULE` per line: its first step is kept).
        const violations = [...stdout.matchAll(/^ *error (\S+): (\S+) \u2192\s+(\S+)/gm)].map((m) => `${m[1]}: ${m[2]} -> ${m[3]}`).sort();
        done({ code: typeof err?.code === 'number' ? err.code : 0, violations });
      },
    );
  });
}

const exp = (name: string, from: string): string => `export const ${name} = ${JSON.stringify(from)};\n`;

describe('layer map (depcruise, as npm run lint runs it)', () => {
  it('fails on an upward import, a type-only one, a cycle, an unmapped folder and a root module that imports a folder', async () => {
    const r = await cruise({
      'src/cli/main.ts': `import { a } from '../gateway/a.js';\nimport { r } from '../run/r.js';\nimport { n } from '../newthing/n.js';\nexport const m = [a, r, n];\n`,
      'src/cli/context.ts': `export interface Ctx { home: string }\n`,
      // The proxy reaching into the CLI, even for a type only.
      'src/gateway/a.ts': `import type { Ctx } from '../cli/context.js';\nexport const a = (c: Ctx): string => c.home;\n`,
      // The daemon reaching up into the run lifecycle (the cycle this layer map removed).
      'src/daemon/d.ts': `import { r } from '../run/r.js';\nexport const d = r;\n`,
      'src/run/r.ts': exp('r', 'run'),
      // Two store modules that import each other.
      'src/store/x.ts': `import { y } from './y.js';\nexport const x = (): string => y();\n`,
      'src/store/y.ts': `import { x } from './x.js';\nexport const y = (): string => typeof x;\n`,
      // A folder nobody placed on the map.
      'src/newthing/n.ts': `import { h } from '../home/h.js';\nexport const n = h;\n`,
      'src/home/h.ts': exp('h', 'home'),
      // A root module (errors.ts, timing.ts, version.ts sit below every folder) importing a folder.
      'src/errors.ts': `import { h } from './home/h.js';\nexport const e = h;\n`,
    });
    expect(r.violations).toEqual([
      'layer-daemon: src/daemon/d.ts -> src/run/r.ts',
      'layer-gateway: src/gateway/a.ts -> src/cli/context.ts',
      'no-circular: src/store/x.ts -> src/store/y.ts', // one report per cycle
      'only-cli-imports-cli: src/gateway/a.ts -> src/cli/context.ts',
      'root-modules-are-leaves: src/errors.ts -> src/home/h.ts',
      'unmapped-folder-target: src/cli/main.ts -> src/newthing/n.ts',
      'unmapped-folder: src/newthing/n.ts -> src/home/h.ts',
    ]);
    expect(r.code).toBe(r.violations.length); // depcruise exits with the number of errors: lint fails
  });

  it('passes a tree whose arrows all point down', async () => {
    const r = await cruise({
      'src/cli/main.ts': `import { r } from '../run/r.js';\nimport { d } from '../daemon/d.js';\nexport const m = [r, d];\n`,
      'src/run/r.ts': `import { d } from '../daemon/d.js';\nimport { s } from '../store/s.js';\nexport const r = [d, s];\n`,
      'src/daemon/d.ts': `import { s } from '../store/s.js';\nimport { g } from '../gateway/g.js';\nexport const d = [s, g];\n`,
      'src/store/s.ts': `import { h } from '../home/h.js';\nimport { e } from '../errors.js';\nexport const s = [h, e];\n`,
      'src/gateway/g.ts': `import { h } from '../home/h.js';\nexport const g = h;\n`,
      'src/home/h.ts': `import { e } from '../errors.js';\nexport const h = e;\n`,
      'src/errors.ts': exp('e', 'errors'),
    });
    expect(r.violations).toEqual([]);
    expect(r.code).toBe(0);
  });
});
