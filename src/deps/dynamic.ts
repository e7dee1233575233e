/**
 * The dynamic dependency forms `npm:<pkg>[@ver]`, `apt:<pkg>[=ver]`, `pip:<pkg>[==ver]`: each name and
 * version must match a strict grammar, so no shell metacharacter can reach the Dockerfile.
 */
import { MoatError } from '../errors.js';
import type { DependencyEntry } from './types.js';

/** npm package names (validate-npm-package-name, lowercase, optional scope). */
const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
/** npm versions, ranges with ^ or ~, x-ranges and dist-tags (no spaces, no <, >, |, *). */
const NPM_VERSION = /^[~^]?[0-9A-Za-z][0-9A-Za-z.+-]*$/;
/** Debian package names (Debian policy 5.6.1). */
const APT_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** Debian versions: [epoch:]upstream[-revision]. */
const APT_VERSION = /^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*$/;
/** PEP 508 distribution names. */
const PIP_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
/** PEP 440 public versions (without epochs or local labels). */
const PIP_VERSION = /^[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?$/;

export const DYNAMIC_PREFIXES = ['npm', 'apt', 'pip'] as const;
export type DynamicKind = (typeof DYNAMIC_PREFIXES)[number];

const MAX = 214;

function check(kind: DynamicKind, what: 'name' | 'version', value: string, re: RegExp, spec: string): void {
  if (value.length > 0 && value.length <= MAX && re.test(value)) return;
  const examples: Record<DynamicKind, string> = {
    npm: 'npm:typescript@5.9 or npm:@scope/pkg',
    apt: 'apt:postgresql-client or apt:jq=1.6-2.1',
    pip: 'pip:requests==2.32.3',
  };
  throw new MoatError(`invalid ${kind} package ${what} in dependency "${spec}": ${JSON.stringify(value)}`, {
    code: 'E_CONFIG',
    hint: `Write it as ${examples[kind]} (letters, digits and . _ - + only; no spaces or shell characters).`,
  });
}

/** Split `npm:…`/`apt:…`/`pip:…` into package and version, validate both, and make a registry-like entry. */
export function dynamicEntry(kind: DynamicKind, rest: string, spec: string): { entry: DependencyEntry; version: string | undefined } {
  let pkg: string;
  let version: string | undefined;
  if (kind === 'npm') {
    const at = rest.indexOf('@', 1);
    [pkg, version] = at < 0 ? [rest, undefined] : [rest.slice(0, at), rest.slice(at + 1)];
    check(kind, 'name', pkg, NPM_NAME, spec);
    if (version !== undefined) check(kind, 'version', version, NPM_VERSION, spec);
  } else if (kind === 'apt') {
    const m = /^([^=@]*)(?:(?:=|@)(.*))?$/s.exec(rest);
    [pkg, version] = [m?.[1] ?? rest, m?.[2]];
    check(kind, 'name', pkg, APT_NAME, spec);
    if (version !== undefined) check(kind, 'version', version, APT_VERSION, spec);
  } else {
    const m = /^([^=@]*)(?:(?:==|@)(.*))?$/s.exec(rest);
    [pkg, version] = [m?.[1] ?? rest, m?.[2]];
    check(kind, 'name', pkg, PIP_NAME, spec);
    if (version !== undefined) check(kind, 'version', version, PIP_VERSION, spec);
  }
  const name = `${kind}:${pkg}`;
  const sep = kind === 'npm' ? '@' : kind === 'apt' ? '=' : '==';
  const entry: DependencyEntry = {
    name,
    type: kind,
    description: `${kind} package ${pkg}`,
    needsInternet: false,
    ...(kind === 'npm' ? { requires: ['node'] } : kind === 'pip' ? { requires: ['python'] } : {}),
    install: { [kind]: [`${pkg}${sep}{version}`] },
  };
  return { entry, version };
}
