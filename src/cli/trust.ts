import type { Command } from '@commander-js/extra-typings';
import { homedir } from 'node:os';
import type { CliContext } from './context.js';
import { printJson } from './json.js';
import { example } from './help.js';
import { checkWorkspace } from '../run/prepare.js';
import { checkConfigTrust, pendingChanges } from '../run/config-trust.js';
import { displayText, fullLines } from '../run/trust-summary.js';
import { loadWorkspaceGuard } from '../run/workspace-guard.js';

/** `moat trust show [path]`: every pending change of moat.yaml's host-reaching settings; `moat trust approve [path]`. */
export function registerTrustCommands(program: Command, ctx: CliContext): void {
  const trust = program.command('trust').description("review and approve the settings of a workspace's moat.yaml that reach beyond the container");
  example(trust, ['moat trust show', 'moat trust approve ~/src/app']);
  const show = trust
    .command('show')
    .description('print every pending change (mounts with their real paths, grants, build and network settings) against the approved settings')
    .argument('[path]', 'the workspace directory', '.')
    .option('--json', 'print as JSON')
    .action(async (path, o) => {
      const workspace = await checkWorkspace(path);
      const { guard } = await loadWorkspaceGuard(workspace);
      const homeDir = ctx.env.HOME ?? homedir();
      const { approved, changes } = await pendingChanges(ctx.home, workspace, guard, homeDir);
      const file = guard.file ?? 'moat.yaml';
      if (o.json) {
        await printJson({ workspace: approved.realWorkspace, file, approvedBefore: approved.settings !== undefined, changes });
        return;
      }
      const ws = displayText(approved.realWorkspace, 200);
      if (changes.length === 0) {
        process.stdout.write(
          `Nothing to approve: the settings of ${file} in ${ws} that reach beyond the container are ${approved.settings ? 'the approved ones' : 'the defaults'}.\n`,
        );
        return;
      }
      const since = approved.settings ? 'since the last approval' : 'never approved';
      process.stdout.write(
        `${file} in ${ws}, ${since}:\n${fullLines(changes, { homeDir }).join('\n')}\n` +
          `To accept: moat trust approve ${ws} (or run with --approve-config).\n`,
      );
    });
  example(show, ['moat trust show', 'moat trust show ~/src/app']);
  const approve = trust
    .command('approve')
    .description("approve the current settings of a workspace's moat.yaml (what moat trust show lists)")
    .argument('[path]', 'the workspace directory', '.')
    .action(async (path) => {
      const workspace = await checkWorkspace(path);
      const { guard, realWorkspace } = await loadWorkspaceGuard(workspace);
      await checkConfigTrust(ctx.home, workspace, guard, { approve: true, homeDir: ctx.env.HOME ?? homedir() });
      process.stdout.write(`Approved the settings of ${guard.file ?? 'moat.yaml'} in ${displayText(realWorkspace, 200)}.\n`);
    });
  example(approve, ['moat trust approve', 'moat trust approve ~/src/app']);
}
