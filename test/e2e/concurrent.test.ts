/**
 * Ten runs started at once in one home all complete with distinct ids and names, intact metadata and their
 * own output recorded; another home neither sees nor cleans them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_ID_RE, cleanupHome, containersOf, listRuns, moat, readLogs, runDirs, tempDir, waitFor } from './helpers.js';

let home: string;
let otherHome: string;
let ws: string;

beforeAll(async () => {
  home = await tempDir('conc-home');
  otherHome = await tempDir('conc-other-home');
  ws = await tempDir('conc-ws');
});

afterAll(async () => {
  await cleanupHome(otherHome, ws);
  await cleanupHome(home, ws, [ws]);
});

describe('concurrency and isolation', () => {
  const N = 10;
  let ids: string[] = [];

  it(`${N} runs started concurrently all complete with intact metadata and logs`, async () => {
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => moat(['run', '-e', `IDX=${i}`, '--', 'sh', '-c', 'echo "own-$IDX-$MOAT_RUN_ID"'], { home, cwd: ws })),
    );
    for (const [i, r] of results.entries()) {
      expect(r.stderr, `run ${i}`).not.toContain('    at ');
      expect(r.code, `run ${i}: ${r.stderr}`).toBe(0);
      expect(r.stdout, `run ${i}`).toMatch(new RegExp(`^own-${i}-run_[0-9a-f]{12}\\n$`));
    }
    const printedIds = results.map((r) => /(run_[0-9a-f]{12})/.exec(r.stdout)?.[1] ?? '');
    expect(new Set(printedIds).size).toBe(N);

    const dirs = runDirs(home);
    expect(dirs.sort()).toEqual([...printedIds].sort());
    ids = dirs;

    const runs = await waitFor(
      async () => {
        const all = await listRuns(home, ws);
        return all.length === N && all.every((r) => r.state === 'stopped') ? all : undefined;
      },
      30_000,
      `${N} stopped runs`,
    );
    expect(new Set(runs.map((r) => r.id)).size).toBe(N);
    expect(new Set(runs.map((r) => r.name)).size).toBe(N);

    for (const [i, id] of printedIds.entries()) {
      expect(id).toMatch(RUN_ID_RE);
      const text = await readFile(join(home, 'runs', id, 'metadata.json'), 'utf8');
      const meta = JSON.parse(text) as { id: string; name: string; exitCode?: number; state: string; command: string[] };
      expect(meta.id).toBe(id);
      expect(meta.command).toEqual(['sh', '-c', 'echo "own-$IDX-$MOAT_RUN_ID"']);
      // The daemon has the last word on the record once the run ended.
      const settled = await waitFor(
        async () => {
          const m = JSON.parse(await readFile(join(home, 'runs', id, 'metadata.json'), 'utf8')) as typeof meta;
          return m.state === 'stopped' ? m : undefined;
        },
        20_000,
        `metadata of ${id} to say stopped`,
      );
      expect(settled.exitCode).toBe(0);
      const logs = await waitFor(
        async () => {
          const l = await readLogs(home, id);
          return l.length > 0 ? l : undefined;
        },
        20_000,
        `logs of ${id}`,
      );
      expect(
        logs.map((l) => l.line),
        `logs of run ${i}`,
      ).toEqual([`own-${i}-${id}`]);
      expect(logs[0]?.stream).toBe('stdout');
    }
  });

  it('another home does not list these runs, and its clean -y removes none of them', async () => {
    expect(ids).toHaveLength(N);
    const other = await listRuns(otherHome, ws);
    expect(other).toEqual([]);
    const c = await moat(['clean', '-y'], { home: otherHome, cwd: ws });
    expect(c.code).toBe(0);
    expect(runDirs(home)).toEqual(ids);
    const mine = await listRuns(home, ws);
    expect(mine.map((r) => r.id).sort()).toEqual(ids);
    // Nothing of the other home exists at all.
    expect(await containersOf(otherHome)).toEqual([]);
    expect(runDirs(otherHome)).toEqual([]);
  });
});
