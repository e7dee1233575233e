import { Option, type Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { jsonLine } from './json.js';
import { example } from './help.js';
import { renderTable } from '../term/table.js';
import { REGISTRY } from '../deps/registry.js';
import { parseSpec } from '../deps/parse.js';
import type { DependencyEntry, DependencyType } from '../deps/types.js';

const TYPES: readonly DependencyType[] = ['runtime', 'tool', 'npm', 'apt', 'pip', 'meta'];

function versionsText(e: DependencyEntry): string {
  if (e.versions === undefined) return e.type === 'meta' ? '-' : 'distribution package';
  return Array.isArray(e.versions) ? e.versions.join(', ') : `matching ${e.versions.pattern}`;
}

/** What an entry puts in the image, one line per install method. */
function installLines(e: DependencyEntry): string[] {
  const out: string[] = [];
  const i = e.install;
  if (i.apt?.length) out.push(`apt: ${i.apt.join(' ')}`);
  if (i.script) out.push('script: its own install step (amd64 and arm64)');
  if (i.npm?.length) out.push(`npm (global): ${i.npm.join(' ')}`);
  if (i.pip?.length) out.push(`pip: ${i.pip.join(' ')}`);
  if (i.user?.script) out.push('setup: a step after the package layers');
  const env = { ...i.env, ...i.user?.env };
  if (Object.keys(env).length > 0)
    out.push(
      `env: ${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
  if (e.type === 'meta') out.push(`bundle of: ${(e.requires ?? []).join(', ')}`);
  return out.map((l) => l.replaceAll('{version}', '<version>'));
}

function entryJson(e: DependencyEntry): Record<string, unknown> {
  return { ...e, install: { ...e.install, script: e.install.script ? Object.keys(e.install.script) : undefined } };
}

export function registerDepsCommands(program: Command): void {
  const deps = program.command('deps').description("the dependencies moat can install into a run's image (dependencies: in moat.yaml)");
  example(deps, ['moat deps list', 'moat deps info node']);

  const list = deps
    .command('list')
    .description('list the built-in dependencies')
    .addOption(new Option('--type <type>', 'only this type').choices(TYPES))
    .option('--json', 'print the entries as JSON')
    .action((o) => {
      const entries = REGISTRY.filter((e) => o.type === undefined || e.type === o.type);
      if (o.json) {
        process.stdout.write(jsonLine({ dependencies: entries.map(entryJson) }));
        return;
      }
      process.stdout.write(
        renderTable(
          ['NAME', 'TYPE', 'DEFAULT', 'INTERNET', 'DESCRIPTION'],
          entries.map((e) => [e.name, e.type, e.defaultVersion ?? '-', e.needsInternet ? { text: 'yes', paint: pc.yellow } : 'no', e.description]),
        ),
      );
      process.stdout.write('\nAlso: npm:<package>[@version], apt:<package>[=version], pip:<package>[==version].\n');
    });
  example(list, ['moat deps list', 'moat deps list --type runtime']);

  const info = deps
    .command('info')
    .description('show one dependency: versions, default, requirements, what it installs')
    .argument('<name>', 'a dependency name, e.g. node or npm:typescript')
    .option('--json', 'print the entry as JSON')
    .action((name, o) => {
      const { entry: e } = parseSpec(name);
      if (o.json) {
        process.stdout.write(jsonLine(entryJson(e)));
        return;
      }
      const rows: [string, string][] = [
        ['name', e.name],
        ['type', e.type],
        ['description', e.description],
        ['versions', versionsText(e)],
        ['default', e.defaultVersion ?? (e.versions === undefined ? '-' : 'latest available at build time')],
        ['requires', (e.requires ?? []).join(', ') || '-'],
        [
          'internet',
          e.needsInternet
            ? pc.yellow('needed: downloads from beyond the package registries (builds only where those hosts are reachable)')
            : 'not needed: package registries only (apt, npm, PyPI)',
        ],
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
      const lines = installLines(e);
      process.stdout.write(`${'installs'.padEnd(width)}  ${lines[0] ?? '-'}\n`);
      for (const l of lines.slice(1)) process.stdout.write(`${''.padEnd(width)}  ${l}\n`);
    });
  example(info, ['moat deps info node', 'moat deps info npm:typescript']);
}
