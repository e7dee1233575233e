import { describe, it, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { demux } from '../../../src/runtime/docker/engine-api.js';
import { engineEndpoint } from '../../../src/runtime/docker/endpoint.js';
import { MAX_API, MIN_API, chooseApi, compareApi } from '../../../src/runtime/docker/api-version.js';
import { normaliseTs } from '../../../src/runtime/docker/docker-runtime.js';

function frame(kind: number, text: string): Buffer {
  const body = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

describe('engine API helpers', () => {
  it('demultiplexes frames split at any byte', async () => {
    const all = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err\n'), frame(1, 'out two\n')]);
    for (let cut = 1; cut < all.length; cut += 3) {
      const src = new PassThrough();
      const got: string[] = [];
      demux(src, (s, d) => got.push(`${s}:${d.toString()}`));
      src.write(all.subarray(0, cut));
      src.end(all.subarray(cut));
      await new Promise((r) => src.on('end', r).resume());
      expect(got.join('')).toBe('stdout:out one\nstderr:err\nstdout:out two\n');
    }
  });
  it('honours DOCKER_HOST', () => {
    expect(engineEndpoint({})).toEqual({ socketPath: '/var/run/docker.sock', address: 'unix:///var/run/docker.sock' });
    expect(engineEndpoint({ DOCKER_HOST: '' })).toEqual({ socketPath: '/var/run/docker.sock', address: 'unix:///var/run/docker.sock' });
    expect(engineEndpoint({ DOCKER_HOST: 'unix:///run/user/1000/podman/podman.sock' })).toEqual({
      socketPath: '/run/user/1000/podman/podman.sock',
      address: 'unix:///run/user/1000/podman/podman.sock',
    });
    expect(engineEndpoint({ DOCKER_HOST: 'tcp://127.0.0.1:2375' })).toEqual({ host: '127.0.0.1', port: 2375, address: 'tcp://127.0.0.1:2375' });
    expect(engineEndpoint({ DOCKER_HOST: 'tcp://docker.example' })).toEqual({ host: 'docker.example', port: 2375, address: 'tcp://docker.example' });
    expect(engineEndpoint({ DOCKER_HOST: 'tcp://[::1]:2376' })).toEqual({ host: '::1', port: 2376, address: 'tcp://[::1]:2376' });
    expect(() => engineEndpoint({ DOCKER_HOST: 'ssh://me@host' })).toThrow(/not supported/);
    expect(() => engineEndpoint({ DOCKER_HOST: 'unix://' })).toThrow(/not supported/);
    expect(() => engineEndpoint({ DOCKER_HOST: 'tcp://' })).toThrow(/not supported/);
    expect(() => engineEndpoint({ DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1' })).toThrow(/TLS/);
  });
  it("chooses the engine's newest API version, capped at the newest moat knows; refuses one too old or unreadable", () => {
    expect(compareApi('1.9', '1.41')).toBeLessThan(0);
    expect(compareApi('1.41', '1.41')).toBe(0);
    expect(compareApi('2.0', '1.99')).toBeGreaterThan(0);
    expect(chooseApi('1.41', 'unix:///s')).toBe('1.41');
    expect(chooseApi(MIN_API, 'unix:///s')).toBe(MIN_API);
    expect(chooseApi(MAX_API, 'unix:///s')).toBe(MAX_API);
    expect(chooseApi('1.99', 'unix:///s')).toBe(MAX_API);
    expect(chooseApi('2.3', 'unix:///s')).toBe(MAX_API);
    expect(() => chooseApi('1.39', 'unix:///s')).toThrow('The Docker engine at unix:///s speaks API 1.39; moat needs 1.40 or newer (Docker 19.03+).');
    expect(() => chooseApi('1.4', 'unix:///s')).toThrow(/speaks API 1\.4;/);
    expect(() => chooseApi('', 'unix:///s')).toThrow(/API version moat cannot read/);
    expect(() => chooseApi('1.41/../../x', 'unix:///s')).toThrow(/API version moat cannot read/);
  });
  it('pads engine timestamps so they sort as strings', () => {
    expect(normaliseTs('2026-11-24T18:00:00.12Z')).toBe('2026-11-24T18:00:00.120000000Z');
    expect(normaliseTs('2026-11-24T18:00:00Z')).toBe('2026-11-24T18:00:00.000000000Z');
    expect(normaliseTs('2026-11-24T18:00:00.12Z') < normaliseTs('2026-11-24T18:00:00.123Z')).toBe(true);
  });
});

describe('log line splitting', () => {
  it('keeps a last line that has no newline', async () => {
    const { readLogLines } = await import('../../../src/runtime/docker/docker-runtime.js');
    const src = new PassThrough();
    const got: string[] = [];
    const done = readLogLines(src, true, (l) => {
      got.push(`${l.ts}|${l.line}`);
    });
    src.write('2026-11-24T18:00:00.1Z one\n2026-11-24T18:00:01Z tw');
    src.end('o-no-newline');
    await done;
    expect(got).toEqual(['2026-11-24T18:00:00.100000000Z|one', '2026-11-24T18:00:01.000000000Z|two-no-newline']);
  });
});
