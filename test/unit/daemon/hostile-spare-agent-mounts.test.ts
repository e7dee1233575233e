/**
 * Attack: an agent run's own mounts (its transcript folder, the host's Claude Code plugin and marketplace
 * folders) are added to the spec after moat.yaml's sources were resolved, so they were not among the plan's
 * checked sources: a marketplace folder kept inside a workspace could be swapped for a link to ~/.ssh by a
 * run beside it while the daemon started a spare, and swapped back before the next run planned; that run's
 * key (the same path strings, no identity for them) then claimed a container that had mounted ~/.ssh.
 * Every bind source of the plan is now identified and held to the spare rule.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sourceIdentities } from '../../../src/container/sources.js';
import { madeAfterTwoRuns } from './spare-fixtures.js';
import { MoatHome } from '../../../src/home/paths.js';
import { planRun } from '../../../src/run/launch.js';
import type { RunSpec } from '../../../src/run/spec.js';

let base: string;
let home: MoatHome;
let ws: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'moat-spare-agent-'));
  home = new MoatHome(join(base, 'home'));
  ws = join(base, 'ws');
  await mkdir(join(ws, 'marketplace'), { recursive: true });
  await mkdir(join(base, 'transcripts'), { recursive: true });
});
afterEach(async () => rm(base, { recursive: true, force: true }));

/** An agent run's spec: moat.yaml's sources resolved (the workspace only), then the agent's mounts added. */
function agentSpec(): RunSpec {
  return {
    workspace: ws,
    command: ['claude'],
    env: {},
    mounts: [
      { source: join(ws, 'marketplace'), target: '/home/moat/.claude/plugin-seed/marketplaces/local', readOnly: true },
      { source: join(base, 'transcripts'), target: '/home/moat/.claude/projects/-workspace', readOnly: false },
    ],
    realSources: [ws],
    interactive: false,
    detach: true,
    pidsLimit: 512,
  } as unknown as RunSpec;
}

describe("hostile: an agent's own mounts in a spare", () => {
  it('are among the plan’s identified sources (a folder made anew is another key)', async () => {
    const plan = await planRun(home, agentSpec(), { tag: 'moat-image:test', env: [] }, { env: {}, mounts: [], homeFiles: [] }, { sandbox: 'runc' });
    expect(plan.sources.map((s) => s.path)).toEqual([ws, join(ws, 'marketplace'), join(base, 'transcripts')]);
  });

  it('a marketplace folder inside the writable workspace gets no spare', async () => {
    const plan = await planRun(home, agentSpec(), { tag: 'moat-image:test', env: [] }, { env: {}, mounts: [], homeFiles: [] }, { sandbox: 'runc' });
    const r = await madeAfterTwoRuns(home, plan);
    expect(r.created).toBe(0);
    expect(r.log.join('\n')).toMatch(/lies in a folder a run can write.*marketplace/);
  });

  it('a plan that leaves a mount source out of its checked sources gets no spare (as an older CLI wrote them)', async () => {
    const plan = await planRun(home, agentSpec(), { tag: 'moat-image:test', env: [] }, { env: {}, mounts: [], homeFiles: [] }, { sandbox: 'runc' });
    const r = await madeAfterTwoRuns(home, { ...plan, sources: await sourceIdentities([ws]) });
    expect(r.created).toBe(0);
    expect(r.log.join('\n')).toMatch(/not among the plan's checked sources/);
  });

  it('agent mounts out of any run’s reach still get a spare (the engine is asked)', async () => {
    const spec = agentSpec();
    spec.mounts = spec.mounts.filter((m) => !m.source.includes('marketplace'));
    const plan = await planRun(home, spec, { tag: 'moat-image:test', env: [] }, { env: {}, mounts: [], homeFiles: [] }, { sandbox: 'runc' });
    const r = await madeAfterTwoRuns(home, plan);
    expect(r.created).toBe(1);
  });
});
