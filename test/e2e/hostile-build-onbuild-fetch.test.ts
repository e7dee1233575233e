/**
 * A base image's `ONBUILD ADD <url>` is downloaded by the engine itself (the classic builder), on the
 * host's network: past the build's relay and gateway, to this machine's loopback, unrecorded, and the
 * answer lands in the image. The control build shows the engine does fetch it; moat refuses the base
 * image before building anything, and the service on this machine sees no request.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, moat, sleep, startMoat, tempDir, waitFor } from './helpers.js';

const execFileP = promisify(execFile);
const classic = { env: { ...process.env, DOCKER_BUILDKIT: '0' } };

let home: string;
let root: string;
let service: Server;
let port: number;
let fetched = 0;
const images: string[] = [];

beforeAll(async () => {
  home = await tempDir('onbuild-home');
  root = await tempDir('onbuild-ws');
  service = createServer((_req, res) => {
    fetched += 1;
    res.end('HOST-LOOPBACK-SECRET\n');
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
  port = (service.address() as { port: number }).port;
});

afterAll(async () => {
  service.close();
  for (const i of images) await execFileP('docker', ['rmi', '-f', i]).catch(() => undefined);
  await cleanupHome(home, root, [root]);
});

describe('hostile build: ONBUILD steps the engine fetches itself', () => {
  it('ONBUILD ADD of a host-loopback URL is refused before the build; the service sees no request', async () => {
    const ctx = join(root, 'base');
    await mkdir(ctx, { recursive: true });
    const tag = `moat-test-onbuild-add:${process.pid}`;
    images.push(tag);
    await writeFile(join(ctx, 'Dockerfile'), `FROM debian:bookworm-slim\nONBUILD ADD http://127.0.0.1:${port}/secret /leak\n`);
    await execFileP('docker', ['build', '-q', '-t', tag, ctx], classic);
    // Control: a plain `--network none` build of the image does fetch from this machine's loopback.
    const child = join(root, 'child');
    await mkdir(child, { recursive: true });
    await writeFile(join(child, 'Dockerfile'), `FROM ${tag}\n`);
    const control = await execFileP('docker', ['build', '-q', '--network', 'none', child], classic);
    images.push(control.stdout.trim());
    expect(fetched).toBe(1);
    fetched = 0;

    const cwd = join(root, 'ws');
    await mkdir(cwd, { recursive: true });
    await writeFile(join(cwd, 'moat.yaml'), `base_image: ${tag}\n`);
    const r = await moat(['run', '--approve-config', '--', 'true'], { home, cwd, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      `The base image ${tag} has ONBUILD steps that would fetch or run outside the build's network boundary: "ONBUILD ADD http://127.0.0.1:${port}/secret /leak".`,
    );
    expect(fetched).toBe(0);
    expect(await relaysLeft()).toBe('');
  }, 240_000);
});

async function relaysLeft(): Promise<string> {
  return (await execFileP('docker', ['ps', '-aq', '--filter', 'label=moat.build-relay', '--filter', `label=moat.home=${home}`])).stdout.trim();
}

describe('hostile build: Ctrl-C while a base image step runs', () => {
  it('SIGINT mid-build ends the CLI by SIGINT with no relay container and no gateway directory left', async () => {
    const ctx = join(root, 'sleepy');
    await mkdir(ctx, { recursive: true });
    const tag = `moat-test-onbuild-sleep:${process.pid}`;
    images.push(tag);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM debian:bookworm-slim\nONBUILD RUN sleep 120\n');
    await execFileP('docker', ['build', '-q', '-t', tag, ctx], classic);
    const cwd = join(root, 'ws-sleepy');
    await mkdir(cwd, { recursive: true });
    await writeFile(join(cwd, 'moat.yaml'), `base_image: ${tag}\n`);
    const cli = startMoat(['run', '--approve-config', '--', 'true'], { home, cwd, timeoutMs: 120_000 });
    await waitFor(async () => (await relaysLeft()) !== '', 60_000, 'the build relay');
    await sleep(3000); // the ONBUILD step (run with the FROM step) is sleeping
    const builds = join(home, 'builds');
    expect((await readdir(builds)).filter((f) => f.startsWith('gw-'))).toHaveLength(1);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.signal, r.stderr).toBe('SIGINT');
    expect(await relaysLeft()).toBe('');
    expect((await readdir(builds)).filter((f) => f.startsWith('gw-'))).toEqual([]);
  }, 240_000);
});
