/**
 * The dependency layers of the generated Dockerfile, appended after moat's own layer: apt in one RUN,
 * runtimes, registry tools, npm globals in one RUN, pip in one RUN, then user-level setup. Output is a
 * pure function of the resolved set and the architecture (sorted everywhere), so equal inputs give
 * equal text and equal image tags. Each RUN follows a `# moat-dep: <names>` line naming its owners.
 */
import { MoatError } from '../errors.js';
import { shellQuote } from '../shell.js';
import { fillText, packageSpec } from './substitute.js';
import type { Arch, ResolvedDependency } from './types.js';

export interface RenderOptions {
  arch: Arch;
}

const WIDTH = 100;
const ENV_VALUE = /^[A-Za-z0-9/._:$+-]+$/;
const ENV_KEY = /^[A-Z_][A-Z0-9_]*$/;

/** `node@22` or `git`: how a dependency is named in comments and errors. */
function depLabel(dep: ResolvedDependency): string {
  return dep.version === undefined ? dep.name : `${dep.name}@${dep.version}`;
}

/** One RUN of shell lines joined with `&&`, under moat-build-env, with its owner comment. */
function runBlock(owners: string[], commands: string[]): string {
  const body = commands
    .map((c) => c.trim())
    .filter((c) => c.length > 0)
    .join(' \\\n && ');
  return `# moat-dep: ${owners.join(', ')}\nRUN moat-build-env sh -c ${shellQuote(body)}`;
}

/** Space-separated words wrapped into continuation lines of at most WIDTH characters. */
function wrapWords(words: string[], indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line.length > 0 && indent.length + line.length + 1 + w.length > WIDTH) {
      lines.push(line);
      line = w;
    } else line = line.length > 0 ? `${line} ${w}` : w;
  }
  if (line.length > 0) lines.push(line);
  return lines.map((l) => indent + l).join(' \\\n');
}

function envLines(dep: ResolvedDependency, env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {}).map(([k, v]) => {
    const value = fillText(v, dep);
    if (!ENV_KEY.test(k) || !ENV_VALUE.test(value)) throw new MoatError(`refusing unsafe ENV ${k} for dependency ${dep.name}`, { code: 'E_REFUSED' });
    return `ENV ${k}=${value}`;
  });
}

function specs(deps: readonly ResolvedDependency[], kind: 'apt' | 'npm' | 'pip'): { owners: string[]; packages: string[] } {
  const owners: string[] = [];
  const packages = new Set<string>();
  for (const d of deps) {
    const list = d.entry.install[kind] ?? [];
    if (list.length === 0) continue;
    owners.push(depLabel(d));
    for (const t of list) packages.add(packageSpec(t, d));
  }
  return { owners, packages: [...packages].sort() };
}

export function renderDependencyLayers(resolved: readonly ResolvedDependency[], opts: RenderOptions): string {
  if (opts.arch !== 'amd64' && opts.arch !== 'arm64')
    throw new MoatError(`unsupported architecture ${String(opts.arch)}`, { code: 'E_CONFIG', hint: 'moat builds images for amd64 and arm64.' });
  const deps = [...resolved].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const blocks: string[] = [];

  const apt = specs(deps, 'apt');
  if (apt.packages.length > 0) {
    blocks.push(
      runBlock(apt.owners, [
        'apt-get update',
        `apt-get install -y --no-install-recommends \\\n${wrapWords(apt.packages, '    ')}`,
        'rm -rf /var/lib/apt/lists/*',
      ]),
    );
  }

  const scripted = (runtime: boolean): void => {
    for (const d of deps) {
      const script = d.entry.install.script?.[opts.arch];
      if (script === undefined || (d.entry.type === 'runtime') !== runtime) continue;
      blocks.push([runBlock([depLabel(d)], fillText(script, d).split('\n')), ...envLines(d, d.entry.install.env)].join('\n'));
    }
  };
  scripted(true);
  scripted(false);

  const npm = specs(deps, 'npm');
  if (npm.packages.length > 0) {
    blocks.push(
      runBlock(npm.owners, [`npm install -g --no-fund --no-audit --no-update-notifier \\\n${wrapWords(npm.packages, '    ')}`, 'npm cache clean --force']),
    );
  }

  const pip = specs(deps, 'pip');
  if (pip.packages.length > 0) {
    blocks.push(runBlock(pip.owners, [`python3 -m pip install --no-cache-dir --root-user-action=ignore \\\n${wrapWords(pip.packages, '    ')}`]));
  }

  // User-level setup: steps that need the packages above, then the container user's environment.
  for (const d of deps) {
    const script = d.entry.install.user?.script;
    if (script !== undefined) blocks.push(runBlock([depLabel(d)], fillText(script, d).split('\n')));
  }
  const env: string[] = [];
  for (const d of deps) {
    if (d.entry.install.script === undefined) env.push(...envLines(d, d.entry.install.env));
    env.push(...envLines(d, d.entry.install.user?.env));
  }
  if (env.length > 0) blocks.push(['# moat-dep: environment', ...env].join('\n'));

  return blocks.length === 0 ? '' : `${blocks.join('\n')}\n`;
}
