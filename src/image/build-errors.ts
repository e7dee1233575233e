/** Map a build step number to the dependency that owns it, from the `# moat-dep:` comments. */
export function stepOwners(dockerfile: string): string[] {
  const owners: string[] = [];
  let current = 'base image';
  let continued = false;
  for (const raw of dockerfile.split('\n')) {
    const line = raw.trim();
    const dep = /^# moat-dep: (.+)$/.exec(line);
    if (dep?.[1]) {
      current = dep[1];
      continue;
    }
    if (line.startsWith('#') || line.length === 0) continue;
    if (!continued) owners.push(/^FROM\s/i.test(line) ? 'base image' : current);
    continued = line.endsWith('\\');
  }
  return owners;
}

/** A one-line hint for a failed build's output. */
export function buildHint(output: string): string {
  if (/Temporary failure resolving|Could not resolve|ENOTFOUND|EAI_AGAIN|Network is unreachable|Connection timed out|ECONNREFUSED/i.test(output)) {
    return 'The build could not reach a package registry: check the network, or set proxy.upstream / build.ca_certs in ~/.moat/config.yaml.';
  }
  if (/self[- ]signed certificate|unable to get local issuer|certificate verify failed|SELF_SIGNED_CERT/i.test(output)) {
    return 'TLS to a registry failed verification: name your CA bundle with build.ca_certs in ~/.moat/config.yaml (or NODE_EXTRA_CA_CERTS).';
  }
  if (/Unable to locate package|E404|404 Not Found|is not in this registry|No matching distribution/i.test(output)) {
    return 'A package was not found: check its name in the dependencies of moat.yaml (moat deps list shows the built-in ones).';
  }
  if (/No matching version|ETARGET|has no installation candidate|Version .* was not found/i.test(output)) {
    return 'A requested version does not exist: check the version in moat.yaml (moat deps info NAME lists them).';
  }
  if (/not Debian- or Ubuntu-based/.test(output)) {
    return 'Set base_image in moat.yaml to a Debian- or Ubuntu-based image, e.g. base_image: debian:bookworm-slim';
  }
  if (/pull access denied|manifest unknown|not found: manifest|repository does not exist/i.test(output)) {
    return 'The base image could not be found or pulled: check base_image in moat.yaml, or pull it first with docker pull.';
  }
  return 'See the full build log for details; fix the step above and run again with --rebuild.';
}

/** The engine's own bookkeeping between steps: kept in the build log, never shown as a step's output. */
const ENGINE_NOISE = /^\s*(?:---> |Removing intermediate container |Running in [0-9a-f]{12}|Successfully (?:built|tagged) )/;

export function isEngineNoise(line: string): boolean {
  return ENGINE_NOISE.test(line);
}
