/** Filling `{version}` into install recipes, with a last guard that only safe text reaches a Dockerfile. */
import { MoatError } from '../errors.js';
import type { ResolvedDependency } from './types.js';

/** Characters a version or package spec may hold once substituted: no shell metacharacters at all. */
const SAFE_TOKEN = /^[A-Za-z0-9@/._+=:~^-]+$/;

function assertSafe(value: string, dep: string): string {
  if (!SAFE_TOKEN.test(value)) throw new MoatError(`refusing unsafe text for dependency ${dep}: ${JSON.stringify(value)}`, { code: 'E_REFUSED' });
  return value;
}

/** A package spec (`pkg@{version}`, `pkg=={version}`, `pkg={version}`) for the resolved version, or bare. */
export function packageSpec(template: string, dep: ResolvedDependency): string {
  const spec = dep.version === undefined ? template.replace(/(?:@|==|=)\{version\}$/, '') : template.replaceAll('{version}', dep.version);
  return assertSafe(spec, dep.name);
}

/** The package name of a spec, for spotting one package asked for twice in different forms. */
export function packageName(spec: string): string {
  const at = spec.indexOf('@', 1);
  const cut = [at, spec.indexOf('=')].filter((i) => i > 0);
  return cut.length === 0 ? spec : spec.slice(0, Math.min(...cut));
}

/** A script or ENV value with `{version}` filled in (the version was validated when parsed). */
export function fillText(text: string, dep: ResolvedDependency): string {
  if (!text.includes('{version}')) return text;
  if (dep.version === undefined) throw new MoatError(`dependency ${dep.name} needs a version`, { code: 'E_CONFIG' });
  return text.replaceAll('{version}', assertSafe(dep.version, dep.name));
}
