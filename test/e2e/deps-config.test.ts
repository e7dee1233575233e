/**
 * `dependencies:` entries are checked once, when moat.yaml is read: an unknown name, a version the
 * registry does not offer, a bad form and two versions of one tool are each refused at moat.yaml:LINE:COL
 * with the fix, before the engine is asked for anything (no run directory, no container, no build).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, runDirs, tempDir } from './helpers.js';

let home: string;
let root: string;
let n = 0;

beforeAll(async () => {
  home = await tempDir('deps-config-home');
  root = await tempDir('deps-config-ws');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

const HINT =
  '  Fix moat.yaml at the positions above. Editors validate it with the modeline "# yaml-language-server: $schema=<path or URL>/moat.schema.json".\n';

async function refused(yaml: string): Promise<string> {
  const cwd = join(root, `ws${++n}`);
  await mkdir(cwd);
  await writeFile(join(cwd, 'moat.yaml'), yaml);
  const r = await moat(['run', '--approve-config', '--', 'true'], { home, cwd, timeoutMs: 30_000 });
  expect(r.code).toBe(1);
  expect(runDirs(home)).toEqual([]);
  return r.stderr;
}

describe.concurrent('dependencies: refused at moat.yaml:LINE:COL with the fix', () => {
  it('an unknown name gets "did you mean" and moat deps list', async () => {
    expect(await refused('dependencies:\n  - git\n  - ripgrap@14\n')).toBe(
      'moat: moat.yaml is invalid (1 problem):\n' +
        '  moat.yaml:3:5: dependencies[1]: unknown dependency "ripgrap@14"; did you mean "ripgrep"? moat deps list shows the built-in names ("apt:ripgrap" or "npm:ripgrap" for a Debian or npm package).\n' +
        HINT,
    );
  });

  it('a version the registry does not offer names the allowed ones', async () => {
    expect(await refused('dependencies: [node@17]\n')).toBe(
      'moat: moat.yaml is invalid (1 problem):\n' +
        '  moat.yaml:1:16: dependencies[0]: unsupported version "17" for node in dependency "node@17". Allowed: 18, 20, 22, 24. moat deps info node lists them.\n' +
        HINT,
    );
  });

  it('a version with shell metacharacters', async () => {
    expect(await refused('dependencies: ["npm:foo@1;rm -rf /"]\n')).toBe(
      'moat: moat.yaml is invalid (1 problem):\n' +
        '  moat.yaml:1:16: dependencies[0]: invalid npm package version in dependency "npm:foo@1;rm -rf /": "1;rm -rf /". Write it as npm:typescript@5.9 or npm:@scope/pkg (letters, digits and . _ - + only; no spaces or shell characters).\n' +
        HINT,
    );
  });

  it('two versions of one dependency', async () => {
    expect(await refused('dependencies: [node@20, node@22]\n')).toBe(
      'moat: moat.yaml is invalid (1 problem):\n' +
        '  moat.yaml:1:15: dependencies: conflicting versions of node: 20 (from "node@20") and 22 (from "node@22"). Keep one version of node in the dependencies of moat.yaml.\n' +
        HINT,
    );
  });
});
