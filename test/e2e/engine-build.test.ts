/**
 * Image builds through moat's own Engine API client against the real engine: the tar context and the
 * classic builder's parameters are accepted, build output streams line by line, a multi-line PEM build
 * argument arrives byte for byte, the image is labelled so `moat clean` finds it, `networkMode: 'none'`
 * really leaves a step without a network, and a failed build carries the engine's own message.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.js';
import { LABEL_HOME, LABEL_MANAGED, type BuildRequest } from '../../src/runtime/types.js';
import { cleanupHome, moat, tempDir } from './helpers.js';

const runtime = new DockerRuntime();
const suffix = randomBytes(4).toString('hex');
const tags: string[] = [];
let home: string;
let ws: string;

const PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBszCCAVmgAwIBAgIUQm9hdCBlMmUgdGVzdCBjZXJ0aWZpY2F0ZSArLz0wCgYIKoZIzj0EAwIw',
  'Dz0gJiA/ICMgJSAiIFwgJyBgICQoZWNobyBubyk=',
  '-----END CERTIFICATE-----',
  '-----BEGIN CERTIFICATE-----',
  'AAAA',
  '-----END CERTIFICATE-----',
  '',
].join('\n');

beforeAll(async () => {
  home = await tempDir('engine-build-home');
  ws = await tempDir('engine-build-ws');
});

afterAll(async () => {
  for (const t of tags) await runtime.removeImage(t).catch(() => undefined);
  await cleanupHome(home, ws);
});

/** Build `dockerfile` (nothing cached, so every RUN really runs) and collect its output lines. */
async function build(name: string, dockerfile: string, over: Partial<BuildRequest> = {}): Promise<{ tag: string; lines: string[] }> {
  const ctx = join(ws, name);
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  const tag = `moat-image:e2e-engine-${name}-${suffix}`;
  tags.push(tag);
  const lines: string[] = [];
  await runtime.build({
    contextDir: ctx,
    files: ['Dockerfile'],
    tag,
    labels: { [LABEL_MANAGED]: 'true', [LABEL_HOME]: home },
    buildArgs: {},
    noCache: true,
    networkMode: 'default',
    onOutput: (l) => lines.push(l),
    ...over,
  });
  return { tag, lines };
}

/** The interface names of a `cat /proc/net/dev` in the build output. */
const interfaces = (lines: string[]): string[] => lines.map((l) => /^\s*([A-Za-z0-9_.-]+):\s+\d/.exec(l)?.[1]).filter((n): n is string => n !== undefined);

describe('builds through the Engine API client (real engine)', () => {
  it('builds, streams the output, keeps a PEM build arg intact, labels the image for moat clean, and removes it', async () => {
    const { tag, lines } = await build(
      'ok',
      [
        'FROM debian:bookworm-slim',
        'ARG MOAT_BUILD_CA',
        'RUN echo "hello from the build" && printf "%s" "$MOAT_BUILD_CA" | base64 -w0 && echo && cat /proc/net/dev',
        '',
      ].join('\n'),
      { buildArgs: { MOAT_BUILD_CA: PEM } },
    );
    // The classic builder counts the labels as steps of their own after the Dockerfile's.
    expect(lines).toContain('Step 3/5 : RUN echo "hello from the build" && printf "%s" "$MOAT_BUILD_CA" | base64 -w0 && echo && cat /proc/net/dev');
    expect(lines).toContain('hello from the build');
    expect(lines).toContain(Buffer.from(PEM).toString('base64'));
    expect(interfaces(lines)).toContain('eth0'); // the default network, for contrast with 'none' below

    const info = await runtime.inspectImage(tag);
    expect(info?.tags).toContain(tag);
    expect(info?.labels).toMatchObject({ [LABEL_MANAGED]: 'true', [LABEL_HOME]: home });
    const clean = await moat(['clean', '--images', '--dry-run'], { home, cwd: ws });
    expect(clean.code).toBe(0);
    expect(clean.stdout.split('\n').some((l) => /^image\s/.test(l) && l.includes(tag))).toBe(true);

    await runtime.removeImage(tag);
    expect(await runtime.inspectImage(tag)).toBeUndefined();
    expect(await runtime.imageExists(tag)).toBe(false);
  });

  it("networkMode 'none': the step's /proc/net/dev shows only lo", async () => {
    const { tag, lines } = await build('none', 'FROM debian:bookworm-slim\nRUN cat /proc/net/dev\n', { networkMode: 'none' });
    expect(lines.some((l) => l.includes('Inter-|'))).toBe(true); // the file really was printed
    expect(interfaces(lines)).toEqual(['lo']);
    await runtime.removeImage(tag);
  });

  it("a failing step rejects with the engine's own message", async () => {
    await expect(build('fails', 'FROM debian:bookworm-slim\nRUN echo about to fail && exit 3\n')).rejects.toThrow(
      "Docker could not build the image: The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3",
    );
  });

  it("a Dockerfile the engine cannot parse rejects with the engine's own message", async () => {
    await expect(build('parse', 'FROMM debian:bookworm-slim\n')).rejects.toThrow(/^Docker could not build the image: .*unknown instruction: FROMM/i);
  });
});
