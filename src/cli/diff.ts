import type { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { MoatError } from '../errors.js';
import { readManifest, type Entry, type NotStored } from '../snapshot/manifest.js';
import { readRunSnapshots, type SnapshotRecord } from '../snapshot/refs.js';
import { objectStore } from '../snapshot/service.js';
import { MAX_TEXT, diffManifests, fileDiff, overTextLimit, pathFilter, type Change } from '../snapshot/diff.js';
import type { RunMetadata } from '../store/types.js';
import { forOut, type CliContext } from './context.js';
import { example } from './help.js';
import { currentFolder, pickWorkspaceRun, workspacePaths } from './snapshot-scope.js';
import { printJson, writeOut } from './json.js';
import { paged } from './pager.js';

/** A run's pre- and post-run snapshot records, or an error that says why there are none. */
export async function runSnapshotPair(ctx: CliContext, meta: RunMetadata): Promise<{ pre: SnapshotRecord; post: SnapshotRecord | undefined }> {
  const r = await readRunSnapshots(ctx.home, meta.id);
  const pre = r?.records.find((x) => x.kind === 'pre');
  if (!pre && r?.pruned)
    throw new MoatError(`Run ${meta.name}'s snapshots were forgotten by moat snapshot prune (${r.pruned}).`, {
      code: 'E_NOT_FOUND',
      hint: 'moat snapshot prune keeps the newest runs of each workspace (--keep N, 10 unless told); moat snapshot list shows what is left.',
    });
  if (!pre) {
    throw new MoatError(
      `Run ${meta.name} has no pre-run snapshot${r?.failed?.kind === 'pre' ? `: ${r.failed.message}` : ' (snapshots were off, or it ran before moat took them)'}.`,
      {
        code: 'E_NOT_FOUND',
        hint: 'Snapshots are on unless moat.yaml says snapshots: {disabled: true}; a new run takes them.',
      },
    );
  }
  return { pre, post: r?.records.find((x) => x.kind === 'post') };
}

/**
 * What a run's changes are shown against while it has no post-run snapshot (still running, or its
 * snapshot failed): the newest snapshot taken by hand after its pre-run one, as the error's hint offers.
 */
export function standIn(records: readonly SnapshotRecord[], pre: SnapshotRecord): SnapshotRecord | undefined {
  return records.filter((r) => r.kind === 'manual' && r.createdAt >= pre.createdAt).at(-1);
}

/** Why a file has no content, as a diff says it (every reason named: none falls to another's words). */
const NOT_STORED: Record<NotStored, string> = {
  'too-large': 'over snapshots.max_file_size',
  'over-budget': 'over snapshots.max_bytes',
  unreadable: 'it could not be read',
};

const mode = (e: Entry | undefined): string => (e ? e.mode.toString(8).padStart(3, '0') : '');

function describe(e: Entry | undefined): Record<string, unknown> | undefined {
  if (!e) return undefined;
  return {
    type: e.type,
    mode: mode(e),
    size: e.size,
    ...(e.hash ? { hash: e.hash } : {}),
    ...(e.target !== undefined ? { target: e.target } : {}),
    ...(e.why ? { notStored: e.why } : {}),
  };
}

export function registerDiffCommand(program: Command, ctx: CliContext, trailing: string[] | undefined): void {
  const cmd = program
    .command('diff')
    .description('show what a run changed in its workspace (its pre-run snapshot against its post-run one)')
    .argument('[run]', 'run id, id prefix or name (default: the most recent run of the workspace you are in)')
    .usage('[options] [run] [-- paths...]')
    .option('--stat', 'one line per file with the lines added and removed')
    .option('--name-only', 'only the paths of changed files')
    .option('--json', 'one JSON document')
    .option('--no-pager', 'never through a pager (on a terminal the text goes through $MOAT_PAGER, $PAGER or less)')
    .action(async (ref, o) => {
      const meta = await pickWorkspaceRun(ctx, ref, 'show the changes of');
      const paths = workspacePaths(trailing ?? [], meta.workspace, await currentFolder());
      const { pre, post: ended } = await runSnapshotPair(ctx, meta);
      const post = ended ?? standIn((await readRunSnapshots(ctx.home, meta.id))?.records ?? [], pre);
      if (!post)
        throw new MoatError(`Run ${meta.name} has no post-run snapshot yet (it is still running, or its snapshot failed).`, {
          code: 'E_CONFLICT',
          hint: `Wait for it to end (moat logs -f ${meta.name}), or snapshot its workspace now and diff against that: moat snapshot ${meta.name}`,
        });
      if (!ended) ctx.info(`(no post-run snapshot yet: the changes up to ${post.id}, taken by hand)`, pc.dim);
      const store = objectStore(ctx.home);
      const [a, b] = [await readManifest(store, pre.manifest), await readManifest(store, post.manifest)];
      const changes = diffManifests(a, b, pathFilter(paths, a, b));
      if (o.json) {
        const out = [];
        for (const c of changes) {
          const d = c.kind === 'mode' ? { added: 0, removed: 0 } : await fileDiff(store, c);
          out.push({ path: c.path, kind: c.kind, before: describe(c.before), after: describe(c.after), added: d.added, removed: d.removed });
        }
        await printJson({ run: meta.id, name: meta.name, pre: pre.manifest, post: post.manifest, changes: out });
        return;
      }
      await paged(o.pager && changes.length > 0, async () => {
        if (o.nameOnly) await writeOut(changes.map((c) => `${forOut(c.path)}\n`).join(''));
        else await changesText(store, changes, o.stat === true);
      });
      if (changes.length === 0) ctx.info(`Run ${meta.name} changed nothing${paths.length ? ' under the paths given' : ''}.`);
    });
  example(cmd, ['moat diff', 'moat diff --stat my-run', 'moat diff my-run -- src/', 'moat diff --no-pager']);
}

/** The changes as patches or --stat lines, written as they are made (64 KiB at a time: a pager shows the first screen early). */
async function changesText(store: ReturnType<typeof objectStore>, changes: readonly Change[], stat: boolean): Promise<void> {
  let text = '';
  const width = statWidth(changes.map((c) => forOut(c.path)));
  let added = 0,
    removed = 0;
  for (const c of changes) {
    text += stat
      ? await statLine(store, c, width, (a, r) => {
          added += a;
          removed += r;
        })
      : await patch(store, c);
    if (text.length > 1 << 16) {
      await writeOut(text);
      text = '';
    }
  }
  if (stat)
    text += ` ${changes.length} file${changes.length === 1 ? '' : 's'} changed, ${added} insertion${added === 1 ? '' : 's'}(+), ${removed} deletion${removed === 1 ? '' : 's'}(-)\n`;
  await writeOut(text);
}

/** What a stat line says of a change that has no line counts, or undefined when it has them. */
export function statWords(c: Change): string | undefined {
  if (c.kind === 'mode') return `mode ${mode(c.before)} → ${mode(c.after)}`;
  if (c.kind === 'type') return `${c.before?.type} → ${c.after?.type}`;
  if (c.before?.type === 'link' || c.after?.type === 'link') return 'link';
  if (c.before?.type === 'other' || c.after?.type === 'other') return 'special file';
  const why = c.before?.why ?? c.after?.why;
  if (why) return `not stored (${NOT_STORED[why]})`;
  if (overTextLimit(c)) return `over ${MAX_TEXT >> 20} MiB, not diffed by line`;
  return undefined;
}

/** The column --stat pads paths to so the bars line up, as git's do (a very long path is left longer). */
export function statWidth(paths: readonly string[]): number {
  return Math.min(60, Math.max(0, ...paths.map((p) => [...p].length)));
}

async function statLine(store: ReturnType<typeof objectStore>, c: Change, width: number, add: (a: number, r: number) => void): Promise<string> {
  const words = statWords(c);
  const kind = c.kind === 'added' || c.kind === 'deleted' ? ` (${c.kind})` : '';
  const path = forOut(c.path);
  const name = path + ' '.repeat(Math.max(0, width - [...path].length));
  if (words) return ` ${name} | ${words}${kind}\n`;
  const d = await fileDiff(store, c);
  add(d.added, d.removed);
  return ` ${name} | ${d.hunks === null ? 'binary' : `${pc.green(`+${d.added}`)} ${pc.red(`-${d.removed}`)}`}${kind}\n`;
}

async function patch(store: ReturnType<typeof objectStore>, c: Change): Promise<string> {
  const p = forOut(c.path);
  let out = pc.bold(`diff --moat a/${p} b/${p}\n`);
  if (c.kind === 'added') out += `new ${c.after?.type} mode ${mode(c.after)}\n`;
  if (c.kind === 'deleted') out += `deleted ${c.before?.type} mode ${mode(c.before)}\n`;
  if (c.kind === 'type') out += `type ${c.before?.type} → ${c.after?.type}\n`;
  // A link's own mode means nothing (it is always 777 here): only a file's or folder's mode is told.
  if (c.before && c.after && c.before.mode !== c.after.mode && c.before.type !== 'link' && c.after.type !== 'link')
    out += `mode ${mode(c.before)} → ${mode(c.after)}\n`;
  if (c.kind === 'mode') return out;
  const link = (e: Entry | undefined): string | undefined => (e?.type === 'link' ? forOut(e.target ?? '') : undefined);
  if (link(c.before) !== undefined || link(c.after) !== undefined) {
    return `${out}link ${link(c.before) ?? '(none)'} → ${link(c.after) ?? '(none)'}\n`;
  }
  if (c.before?.type === 'other' || c.after?.type === 'other') return `${out}special file (FIFO, socket or device)\n`;
  const d = await fileDiff(store, c);
  if (d.hunks === null) {
    const why = c.before?.why ?? c.after?.why;
    const size = c.before && c.after ? `size ${c.before.size} → ${c.after.size}` : `size ${(c.before ?? c.after)?.size ?? 0}`;
    if (why) return `${out}file recorded without its content (${NOT_STORED[why]}): ${size}\n`;
    return `${out}${overTextLimit(c) ? `file over ${MAX_TEXT >> 20} MiB, not diffed by line: ${size}` : 'binary file differs'}\n`;
  }
  out += `${pc.bold(`--- ${c.kind === 'added' ? '/dev/null' : `a/${p}`}`)}\n${pc.bold(`+++ ${c.kind === 'deleted' ? '/dev/null' : `b/${p}`}`)}\n`;
  for (const h of d.hunks) {
    const line = forOut(h);
    out += `${h.startsWith('@@') ? pc.cyan(line) : h.startsWith('+') ? pc.green(line) : h.startsWith('-') ? pc.red(line) : line}\n`;
  }
  return out;
}
