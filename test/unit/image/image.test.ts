import { describe, it, expect } from 'vitest';
import { renderDockerfile, ASSETS } from '../../../src/image/dockerfile.js';
import { imageTag } from '../../../src/image/tag.js';
import { buildHint, isEngineNoise, stepOwners } from '../../../src/image/build-errors.js';

describe('generated image', () => {
  it('is deterministic and content-addressed', () => {
    const a = renderDockerfile({ baseImage: 'debian:bookworm-slim', extra: '' });
    expect(renderDockerfile({ baseImage: 'debian:bookworm-slim', extra: '' })).toBe(a);
    expect(imageTag(a, ASSETS)).toBe(imageTag(a, { ...ASSETS }));
    expect(imageTag(a, ASSETS)).toMatch(/^moat-image:[0-9a-f]{20}$/);
    const b = renderDockerfile({ baseImage: 'ubuntu:24.04', extra: '' });
    expect(imageTag(b, ASSETS)).not.toBe(imageTag(a, ASSETS));
    expect(imageTag(a, { ...ASSETS, 'moat-init': `${ASSETS['moat-init']}\n` })).not.toBe(imageTag(a, ASSETS));
  });
  it('has moat layer: non-root user, init entrypoint, build CA hook', () => {
    const d = renderDockerfile({ baseImage: 'debian:bookworm-slim', extra: '# moat-dep: git\nRUN true' });
    expect(d).toMatch(/^FROM debian:bookworm-slim$/m);
    expect(d).toContain('ARG MOAT_BUILD_CA');
    expect(d).toContain('ENTRYPOINT ["/usr/local/bin/moat-init"]');
    expect(d).toMatch(/useradd -m -u 1000/);
    expect(d.indexOf('RUN true')).toBeGreaterThan(d.indexOf('useradd'));
    expect(ASSETS['moat-init']).toMatch(/setpriv --reuid="\$uid" --regid="\$gid" --clear-groups --inh-caps=-all --bounding-set=-all/);
    expect(ASSETS['moat-build-env']).toMatch(/rm -rf "\$d"/);
  });
  it('names the dependency that owns each build step', () => {
    const d = renderDockerfile({ baseImage: 'debian:bookworm-slim', extra: '# moat-dep: node@22\nRUN a \\\n && b\n# moat-dep: git\nRUN c' });
    const owners = stepOwners(d);
    expect(owners[0]).toBe('base image');
    expect(owners).toContain('moat');
    expect(owners.at(-5)).toBe('node@22');
    expect(owners.at(-4)).toBe('git');
    expect(owners.at(-1)).toBe('moat');
  });
  it('hints at the cause of a build failure', () => {
    expect(buildHint('E: Unable to locate package foo')).toMatch(/not found/);
    expect(buildHint('Temporary failure resolving deb.debian.org')).toMatch(/could not reach/);
    expect(buildHint('npm ERR! code ETARGET')).toMatch(/version does not exist/);
    expect(buildHint('moat: base image is alpine, not Debian- or Ubuntu-based')).toMatch(/base_image/);
  });
  it("keeps the engine's own bookkeeping lines out of a failing step's output", () => {
    for (const l of [
      ' ---> Running in 0123456789ab',
      ' ---> 4f1e2d3c4b5a',
      'Removing intermediate container 0123456789ab',
      'Successfully built 4f1e2d3c4b5a',
      'Successfully tagged moat-image:abc',
    ]) {
      expect(isEngineNoise(l), l).toBe(true);
    }
    for (const l of ['E: Unable to locate package foo', 'npm ERR! code ETARGET', 'Running in circles', '+ curl -fsSL https://x']) {
      expect(isEngineNoise(l), l).toBe(false);
    }
  });
});
