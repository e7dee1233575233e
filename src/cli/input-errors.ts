/**
 * The words of command-line mistakes: commander's own messages in moat's one error form (`moat: …`), its
 * "(Did you mean X?)" as `did you mean: moat …`, and the forgotten `--` before a container command
 * (`moat run ls -la` → `did you mean: moat run -- ls -la`).
 */
import { MoatError, isMoatError } from '../errors.js';
import { shellJoin } from '../shell.js';

/** What `--` separates: the command's own flags, and whether each takes a value (which is no operand). */
export interface CommandShape {
  name: string;
  /** 'value' or 'switch' for one of the command's flags, undefined for a flag it does not know. */
  flag(flag: string): 'value' | 'switch' | undefined;
}

/**
 * `moat run ls -la` (no `--`): the suggestion with the container command after `--`, or undefined when
 * the operands do not look like a forgotten `--`. `args` are the words after the command's name;
 * `isDir(p)` says whether an operand is an existing directory (then it is the workspace). An unknown flag
 * before any operand is a typo of moat's own flags, not a forgotten `--`.
 */
export function forgottenDashDash(cmd: CommandShape, args: readonly string[], isDir: (p: string) => boolean): string | undefined {
  if (args.includes('--')) return undefined;
  const flags: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a.startsWith('-') && a.length > 1) {
      const kind = cmd.flag(a.split('=')[0] ?? a);
      if (kind === undefined) return undefined;
      flags.push(a);
      if (!a.includes('=') && kind === 'value' && i + 1 < args.length) flags.push(args[++i] ?? '');
      continue;
    }
    const rest = args.slice(i);
    const [workspace, command] = isDir(a) ? [[a], rest.slice(1)] : [[], rest];
    if (command.length === 0) return undefined;
    return `did you mean: moat ${shellJoin([cmd.name, ...flags, ...workspace])} -- ${shellJoin(command)}`;
  }
  return undefined;
}

/** commander's error text, worded as moat's: the `moat:` prefix and `did you mean: moat …` suggestions. */
export function moatCommanderText(text: string, commandPath: readonly string[], prefix = 'moat:'): string {
  let out = text.replace(/^error: /, `${prefix} `);
  out = out.replace(/\n\(Did you mean (.+?)\?\)/, (_m, s: string) => {
    // commander offers one name, or several as "one of a, b".
    const names = s.replace(/^one of /, '').split(', ');
    const full = names.map((n) => (n.startsWith('-') ? n : ['moat', ...commandPath, n].join(' ')));
    return `\n  did you mean: ${full.length === 1 ? full[0] : `one of ${full.join(', ')}`}`;
  });
  return out;
}

/**
 * `moat run ls` where `ls` is no directory: the workspace error says the command goes after `--`. A path
 * with a slash was meant as a directory, and keeps the usual "create it" hint.
 */
export async function checkWorkspaceOperand(command: string, path: string, trailing: readonly string[] | undefined): Promise<void> {
  if ((trailing?.length ?? 0) > 0 || path === '.' || path.includes('/')) return;
  const { checkWorkspace } = await import('../run/prepare.js');
  try {
    await checkWorkspace(path);
  } catch (err) {
    if (!isMoatError(err)) throw err;
    throw new MoatError(err.message, {
      code: err.code,
      hint: `did you mean: moat ${shellJoin([command])} -- ${shellJoin([path])}  (the container command goes after --)`,
    });
  }
}
