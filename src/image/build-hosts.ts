/**
 * The build policy: an image build reaches only the package registries and download hosts its recipe
 * needs (through moat's gateway, like a run), plus `build.allow_hosts` from ~/.moat/config.yaml.
 */
import type { ResolvedDependency } from '../deps/types.js';

/** Debian and Ubuntu archives: moat's own layer installs its few packages with apt on every base. */
export const APT_HOSTS = ['deb.debian.org', 'security.debian.org', 'archive.ubuntu.com', 'security.ubuntu.com', 'ports.ubuntu.com'];
export const NPM_HOSTS = ['registry.npmjs.org'];
export const PYPI_HOSTS = ['pypi.org', 'files.pythonhosted.org'];

/** The hosts the recipe's dependencies download from, sorted and without repeats. */
export function recipeHosts(deps: readonly ResolvedDependency[]): string[] {
  const hosts = new Set(APT_HOSTS);
  for (const d of deps) {
    if ((d.entry.install.npm ?? []).length > 0) for (const h of NPM_HOSTS) hosts.add(h);
    if ((d.entry.install.pip ?? []).length > 0) for (const h of PYPI_HOSTS) hosts.add(h);
    for (const h of d.entry.hosts ?? []) hosts.add(h);
  }
  return [...hosts].sort();
}
