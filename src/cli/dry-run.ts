/**
 * `--dry-run` for run, claude and codex: what the run would use and create, checked as the real run
 * checks it (workspace, moat.yaml, flags, grants, sensitive folders), then nothing is created: no image
 * build, no container, no run directory, no daemon, no approval written.
 */
import { homedir } from 'node:os';
import { forOut, type CliContext } from './context.js';
import { shellJoin } from '../shell.js';
import type { RunSpec } from '../run/spec.js';
import { isEngineUnreachable } from '../runtime/docker/errors.js';
import { moatCacheRoot } from '../cache-dir.js';

/** Prints the plan of `spec` on stdout. */
export async function printRunPlan(ctx: CliContext, spec: RunSpec, what = 'run'): Promise<void> {
  const { checkSensitiveWorkspace } = await import('../run/sensitive-workspace.js');
  const hidden = await checkSensitiveWorkspace({
    workspace: spec.workspace,
    moatHome: ctx.home.root,
    allow: spec.allowSensitiveWorkspace ?? false,
    cacheRoot: moatCacheRoot(ctx.env),
    ...(ctx.env.HOME ? { userHome: ctx.env.HOME } : {}),
  });
  const { planImage } = await import('../image/build.js');
  const { tag } = planImage({ baseImage: spec.baseImage, extra: spec.imageExtra });
  let image: string;
  try {
    image = !spec.rebuild && (await ctx.runtime.imageExists(tag)) ? `reuse ${tag}` : `build ${tag} from ${spec.baseImage}`;
  } catch (err) {
    if (!isEngineUnreachable(err)) throw err;
    image = `${tag} from ${spec.baseImage} (built unless cached: the engine cannot be reached to tell)`;
  }
  let approval = 'none needed';
  if (spec.configGuard) {
    const { pendingChanges } = await import('../run/config-trust.js');
    const { changes } = await pendingChanges(ctx.home, spec.workspace, spec.configGuard, ctx.env.HOME ?? homedir());
    if (changes.length > 0)
      approval = `${changes.length} change(s) of ${spec.configGuard.file ?? 'moat.yaml'} to approve (moat trust show)${spec.approveConfig ? ', approved by --approve-config' : ''}`;
  }
  const n = spec.network;
  const rules = n.rules.map((r) =>
    typeof r === 'string'
      ? r
      : Object.keys(r)
          .map((h) => `${h} (path rules)`)
          .join(', '),
  );
  const limits = [
    spec.memoryBytes ? `memory ${spec.memoryBytes} bytes` : '',
    spec.nanoCpus ? `cpus ${spec.nanoCpus / 1e9}` : '',
    `pids ${spec.pidsLimit}`,
    spec.logLimitBytes ? `stored output ${spec.logLimitBytes} bytes` : '',
  ].filter(Boolean);
  const lines: Array<[string, string]> = [
    ['image', image],
    [
      'container',
      `${spec.name ?? '(a generated name)'}: ${shellJoin(spec.command)}${spec.interactive ? ' (interactive)' : ''}${spec.detach ? ' (detached)' : ''}${spec.keep ? ' (kept after exit)' : ''}`,
    ],
    ['workspace', `${spec.workspace} -> /workspace${hidden.length > 0 ? ` (hidden: ${hidden.join(', ')})` : ''}`],
    ...spec.mounts.map((m): [string, string] => ['mount', `${m.source} -> ${m.target}${m.readOnly ? ' (read-only)' : ''}`]),
    ['env', Object.keys(spec.env).sort().join(', ') || '-'],
    ['grants', spec.grants.join(', ') || '-'],
    ['network', `${n.policy}; allowed: ${rules.join(', ') || '-'}; denied: ${n.deny.join(', ') || '-'}`],
    ['limits', limits.join(', ')],
    ['approval', approval],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  process.stdout.write(forOut(`Would start a ${what} (dry run: nothing was created):\n${lines.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`));
}
