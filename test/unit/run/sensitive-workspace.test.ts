/**
 * moat's code cache (src/cache-dir.ts) is compiled code the next `moat` runs as the user, outside any
 * container: a run whose workspace holds it must not be able to write it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { moatCacheRoot } from '../../../src/cache-dir.js';
import { checkSensitiveWorkspace } from '../../../src/run/sensitive-workspace.js';

const base = mkdtempSync(join(tmpdir(), 'moat-sensitive-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const me = join(base, 'me');
const moatHome = join(me, '.moat');
mkdirSync(moatHome, { recursive: true });

describe("attack: a run writes moat's code cache to run code on the host", () => {
  it('hides the cache when the workspace holds it ($XDG_CACHE_HOME in a project), making it first if missing', async () => {
    const project = join(base, 'project');
    mkdirSync(project);
    const cacheRoot = moatCacheRoot({ XDG_CACHE_HOME: join(project, '.cache'), HOME: me });
    expect(cacheRoot).toBe(join(project, '.cache', 'moat'));
    const hidden = await checkSensitiveWorkspace({ workspace: project, moatHome, userHome: me, allow: false, cacheRoot });
    expect(hidden).toEqual(['/workspace/.cache/moat']);
    expect(existsSync(cacheRoot)).toBe(true);
  });

  it("hides both moat's home and ~/.cache/moat in an allowed home-folder workspace", async () => {
    const cacheRoot = moatCacheRoot({ HOME: me });
    const hidden = await checkSensitiveWorkspace({ workspace: me, moatHome, userHome: me, allow: true, cacheRoot });
    expect(hidden.sort()).toEqual(['/workspace/.cache/moat', '/workspace/.moat']);
  });

  it('refuses a workspace inside the cache, even when sensitive folders are allowed', async () => {
    const cacheRoot = moatCacheRoot({ HOME: me });
    const inside = join(cacheRoot, 'code-cache');
    mkdirSync(inside, { recursive: true });
    await expect(checkSensitiveWorkspace({ workspace: inside, moatHome, userHome: me, allow: true, cacheRoot })).rejects.toThrow(/inside moat's code cache/);
  });

  it('hides nothing for an ordinary project', async () => {
    const project = join(base, 'plain');
    mkdirSync(project);
    expect(await checkSensitiveWorkspace({ workspace: project, moatHome, userHome: me, allow: false, cacheRoot: moatCacheRoot({ HOME: me }) })).toEqual([]);
  });
});
