/**
 * A workspace that holds moat's own state or the user's keys: moat refuses it (one sentence and the fix)
 * unless told so, compares real paths (a symlinked workspace is no way round), and even when told so hides
 * moat's home from the run.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, errorProblems, moat, tempDir } from './helpers.js';

let base: string;
let userHome: string;
let moatHome: string;

beforeAll(async () => {
  base = await tempDir('sensitive');
  userHome = join(base, 'me');
  moatHome = join(userHome, '.moat');
  await mkdir(join(userHome, '.ssh'), { recursive: true, mode: 0o700 });
  await writeFile(join(userHome, '.ssh', 'id_ed25519'), 'PRIVATE KEY\n', { mode: 0o600 });
  await mkdir(join(userHome, '.config', 'gcloud'), { recursive: true });
  await mkdir(join(userHome, 'code', 'project'), { recursive: true });
  await mkdir(moatHome, { recursive: true, mode: 0o700 });
});

afterAll(async () => {
  await cleanupHome(moatHome, base, [base]);
});

const run = (cwd: string, args: string[] = [], command = ['true']) =>
  moat(['run', ...args, '--', ...command], { home: moatHome, cwd, env: { HOME: userHome } });

describe("hostile workspace: moat's home and the user's keys are never inside a run", () => {
  it("refuses the home folder, /, a folder holding ~/.ssh or gcloud's credentials, and a symlink to one, with the fix", async () => {
    const link = join(base, 'innocent-looking');
    await symlink(userHome, link);
    for (const [cwd, what] of [
      [userHome, /is your home folder/],
      ['/', /is the root folder/],
      [join(userHome, '.config'), /gcloud/],
      [link, /is your home folder/],
      [join(userHome, '.ssh'), /is inside .*\.ssh/],
    ] as const) {
      const r = await run(cwd);
      expect(errorProblems(r), `${cwd}: ${r.stderr}`).toEqual([]);
      expect(r.stderr).toMatch(what);
      expect(r.stderr).toContain('--allow-sensitive-workspace');
    }
    expect(readdirSync(moatHome).includes('runs') ? readdirSync(join(moatHome, 'runs')) : []).toEqual([]);
  });

  it("refuses a folder that contains moat's home, naming it", async () => {
    const r = await run(userHome);
    expect(r.stderr).toContain(`contains moat's home (${moatHome})`);
  });

  it("refuses a workspace inside moat's home even when told to allow sensitive folders", async () => {
    const inside = join(moatHome, 'runs-look-alike');
    await mkdir(inside, { recursive: true });
    const r = await run(inside, ['--allow-sensitive-workspace']);
    expect(errorProblems(r), r.stderr).toEqual([]);
    expect(r.stderr).toMatch(/inside moat's home/);
  });

  it("with --allow-sensitive-workspace runs in the home folder, with moat's home hidden behind an empty read-only folder", async () => {
    const script =
      'echo "MOAT=[$(ls -A /workspace/.moat | tr "\\n" " ")]"; touch /workspace/.moat/x 2>/dev/null && echo WRITE=done || echo WRITE=refused; ls /workspace/.ssh';
    const r = await run(userHome, ['--allow-sensitive-workspace'], ['/bin/sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('MOAT=[]');
    expect(r.stdout).toContain('WRITE=refused');
    expect(r.stdout).toContain('id_ed25519'); // the user allowed it: the rest of the folder is there
    expect(existsSync(join(moatHome, 'x'))).toBe(false);
  });

  it("attack: a run in an allowed home folder cannot write moat's code cache (~/.cache/moat), which the next moat runs", async () => {
    const script =
      'echo "CACHE=[$(ls -A /workspace/.cache/moat | tr "\\n" " ")]"; touch /workspace/.cache/moat/code-cache/x 2>/dev/null && echo WRITE=done || echo WRITE=refused';
    const r = await moat(['run', '--allow-sensitive-workspace', '--', '/bin/sh', '-c', script], {
      home: moatHome,
      cwd: userHome,
      env: { HOME: userHome, XDG_CACHE_HOME: '' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('CACHE=[]');
    expect(r.stdout).toContain('WRITE=refused');
    expect(existsSync(join(userHome, '.cache', 'moat', 'code-cache', 'x'))).toBe(false);
  });

  it('a project folder under the home runs as usual', async () => {
    const r = await run(join(userHome, 'code', 'project'));
    expect(r.code, r.stderr).toBe(0);
  });
});
