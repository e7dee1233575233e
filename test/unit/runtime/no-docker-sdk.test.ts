import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SDK = ['dockerode', '@types/dockerode', 'docker-modem'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('one Docker client', () => {
  it('no source file imports a Docker SDK, and package.json depends on none', () => {
    const importers = sources(join(ROOT, 'src')).filter((f) =>
      /from\s+['"](?:dockerode|docker-modem)['"]|import\(\s*['"](?:dockerode|docker-modem)['"]/.test(readFileSync(f, 'utf8')),
    );
    expect(importers).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: object; devDependencies?: object };
    expect(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((d) => SDK.includes(d))).toEqual([]);
  });
});
