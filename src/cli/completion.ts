/**
 * `moat completion bash|zsh|fish`: a completion script with moat's commands, subcommands and flags taken
 * from the commands themselves, and `moat __complete runs|grants`: the dynamic values (run names, grant
 * names), read from the moat home's files alone (no engine, no keychain, no commander), so a Tab stays fast.
 */
import { readdir } from 'node:fs/promises';
import type { Command } from '@commander-js/extra-typings';
import { MoatError } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import { RunStore } from '../store/store.js';
import { RUN_NAME_RE } from '../store/names.js';
import { CREDENTIAL_NAME_RE } from '../credentials/names.js';
import { displayGrantName } from '../credentials/providers/ssh.js';
import { example } from './help.js';
import { renderCompletion, SHELLS, type CompletionEntry, type Shell, type ValueKind } from './completion-scripts.js';

/** What an argument takes, by its name in the commands' definitions. */
function argumentKind(cmdPath: string, arg: string, providers: readonly string[]): ValueKind {
  if (['run', 'runs', 'run-or-seq', 'session'].includes(arg)) return 'runs';
  if (arg === 'name' && (cmdPath === 'grant show' || cmdPath === 'revoke')) return 'grants';
  if (arg === 'provider') return `words:${providers.join(' ')}`;
  if (arg === 'path' || arg === 'workspace') return 'dirs';
  if (arg === 'file') return 'files';
  if (arg === 'shell') return `words:${SHELLS.join(' ')}`;
  return '';
}

function optionKind(long: string | undefined): ValueKind {
  if (long === '--grant') return 'grants';
  if (long === '--resume') return 'runs';
  if (long === '--export' || long === '--key') return 'files';
  return 'none';
}

/** Every command path (aliases included) with its subcommands, flags and what its arguments take. */
function completionEntries(program: Command, providers: readonly string[]): CompletionEntry[] {
  const out: CompletionEntry[] = [];
  const walk = (cmd: Command, paths: string[], canonical: string): void => {
    const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    const words = subs.flatMap((c) => [c.name(), ...c.aliases()]);
    if (paths.length === 1 && paths[0] === '') words.push('help');
    const flags: CompletionEntry['flags'] = [];
    for (const o of cmd.createHelp().visibleOptions(cmd)) {
      const takes = o.required || o.optional ? optionKind(o.long) : '';
      for (const name of [o.short, o.long]) if (name) flags.push({ name, value: takes });
    }
    const first = cmd.registeredArguments[0];
    const arg = first ? argumentKind(canonical, first.name(), providers) : '';
    for (const p of paths) out.push({ path: p, subcommands: words, flags, argument: arg });
    for (const c of subs) {
      const names = [c.name(), ...c.aliases()];
      walk(
        c as Command,
        paths.flatMap((p) => names.map((n) => (p ? `${p} ${n}` : n))),
        canonical ? `${canonical} ${c.name()}` : c.name(),
      );
    }
  };
  walk(program, [''], '');
  return out;
}

export function registerCompletionCommand(program: Command, providers: readonly string[]): void {
  const completion = program
    .command('completion')
    .description('print a completion script for bash, zsh or fish (commands, flags, run and grant names)')
    .argument('<shell>', `the shell: ${SHELLS.join(', ')}`)
    .action((shell) => {
      if (!(SHELLS as readonly string[]).includes(shell)) {
        throw new MoatError(`moat has no completion script for "${shell}".`, {
          code: 'E_USAGE',
          hint: `Use one of: ${SHELLS.join(', ')} (moat completion bash).`,
        });
      }
      process.stdout.write(renderCompletion(shell as Shell, completionEntries(program, providers)));
    });
  example(completion, [
    'moat completion bash > ~/.local/share/bash-completion/completions/moat',
    'moat completion zsh > "${fpath[1]}/_moat"',
    'moat completion fish > ~/.config/fish/completions/moat.fish',
  ]);
}

/**
 * `moat __complete runs|grants`: one name a line. Only names of the shape moat itself gives them reach the
 * shell (scripts feed them to `compgen -W`, which expands `$(…)`): a hand-edited file offers nothing.
 */
export async function printDynamicValues(kind: string | undefined, home: MoatHome, out: NodeJS.WritableStream): Promise<void> {
  let names: string[] = [];
  if (kind === 'runs') {
    names = (await new RunStore(home).list())
      .map((r) => r.name)
      .filter((n) => RUN_NAME_RE.test(n))
      .sort();
  } else if (kind === 'grants') {
    const files = await readdir(home.credentialsDir).catch(() => [] as string[]);
    names = files
      .filter((f) => f.endsWith('.enc'))
      .map((f) => f.slice(0, -4))
      .filter((n) => CREDENTIAL_NAME_RE.test(n))
      .map(displayGrantName) // what `grant list` shows and -g/revoke take: ssh:HOST, not the store's ssh_HOST
      .sort();
  }
  const unique = [...new Set(names)];
  if (unique.length > 0) out.write(`${unique.join('\n')}\n`);
}
