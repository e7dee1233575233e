/**
 * One help style for every command: commander's layout, an "Example:" section after each command's own
 * help, and no default shown when it is noise (an empty list for a repeatable flag, false/true for a switch).
 */
import { Help, type Command, type Option } from '@commander-js/extra-typings';

interface HelpTarget {
  addHelpText(position: 'after', text: string): unknown;
}

/** The example lines a command shows after its help (first the plainest use). */
export function example(cmd: HelpTarget, lines: readonly string[]): void {
  cmd.addHelpText('after', `\n${lines.length === 1 ? 'Example' : 'Examples'}:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
}

/** A default worth printing: not an empty list, not a switch's true/false. */
function meaningfulDefault(v: unknown): boolean {
  return !(Array.isArray(v) && v.length === 0) && typeof v !== 'boolean';
}

/** Set on the root before any subcommand is added: commander copies it to every command created from it. */
export function configureHelpStyle(program: Command): void {
  program.configureHelp({
    optionDescription(this: Help, option: Option): string {
      if (meaningfulDefault(option.defaultValue)) return Help.prototype.optionDescription.call(this, option);
      const quiet = Object.assign(Object.create(Object.getPrototypeOf(option) as object) as Option, option, { defaultValue: undefined });
      return Help.prototype.optionDescription.call(this, quiet);
    },
  });
}
