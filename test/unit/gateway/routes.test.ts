import { describe, expect, it } from 'vitest';
import { isIndexHost, parseRouteHost, portEnv, runUrls } from '../../../src/gateway/routes.js';
import { parsePortFlags } from '../../../src/config/ports.js';
import { moatConfigSchema } from '../../../src/config/schema.js';

describe('routing names', () => {
  it('reads SERVICE.RUN.localhost and RUN.localhost, with or without a port', () => {
    expect(parseRouteHost('web.brave-otter.localhost:8080')).toEqual({ run: 'brave-otter', service: 'web' });
    expect(parseRouteHost('Brave-Otter.LOCALHOST')).toEqual({ run: 'brave-otter' });
  });

  it('refuses other domains, deeper names, IPs and empty labels', () => {
    for (const h of [
      'web.run.example.com',
      'a.web.run.localhost',
      '127.0.0.1:8080',
      'localhost',
      '.run.localhost',
      'web..localhost',
      'we_b.run.localhost',
      undefined,
    ]) {
      expect(parseRouteHost(h)).toBeUndefined();
    }
  });

  it('serves the index only to localhost names', () => {
    expect(isIndexHost('localhost:8080')).toBe(true);
    expect(isIndexHost('127.0.0.1:8080')).toBe(true);
    expect(isIndexHost('evil.example:8080')).toBe(false);
    expect(isIndexHost('run.localhost:8080')).toBe(false);
  });

  it('gives the run MOAT_URL, MOAT_URL_NAME and MOAT_HOST_NAME (dashes as underscores)', () => {
    expect(portEnv('alpha', { web: 3000, 'api-v2': 8080 }, 18080)).toEqual({
      MOAT_URL: 'http://alpha.localhost:18080/',
      MOAT_URL_WEB: 'http://web.alpha.localhost:18080/',
      MOAT_HOST_WEB: 'web.alpha.localhost:18080',
      MOAT_URL_API_V2: 'http://api-v2.alpha.localhost:18080/',
      MOAT_HOST_API_V2: 'api-v2.alpha.localhost:18080',
    });
    expect(portEnv('alpha', undefined, 8080)).toEqual({});
    expect(runUrls('alpha', { web: 3000 }, 8080)).toEqual({ web: 'http://web.alpha.localhost:8080/' });
  });
});

describe('port names', () => {
  it('parses -p NAME=PORT', () => {
    expect(parsePortFlags(['web=3000', 'api=8080'])).toEqual({ ports: { web: 3000, api: 8080 } });
  });

  it.each([['Web=3000'], ['web=0'], ['web=70000'], ['web'], ['=3000'], ['1web=3000'], ['web-=3000'], ['a.b=3000'], ['web=3000x']])('refuses -p %s', (e) => {
    expect(parsePortFlags([e])).toHaveProperty('problem');
  });

  it('moat.yaml ports: names and numbers are validated', () => {
    expect(moatConfigSchema.safeParse({ ports: { web: 3000 } }).success).toBe(true);
    expect(moatConfigSchema.safeParse({ ports: { 'We b': 3000 } }).success).toBe(false);
    expect(moatConfigSchema.safeParse({ ports: { web: 0 } }).success).toBe(false);
    expect(moatConfigSchema.safeParse({ ports: { web: '3000' } }).success).toBe(false);
  });
});
