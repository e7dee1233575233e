import { describe, it, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { demux, engineEndpoint } from '../../../src/runtime/docker/engine-api.js';
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
    expect(engineEndpoint({})).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(engineEndpoint({ DOCKER_HOST: 'unix:///run/user/1000/podman/podman.sock' })).toEqual({ socketPath: '/run/user/1000/podman/podman.sock' });
    expect(engineEndpoint({ DOCKER_HOST: 'tcp://127.0.0.1:2375' })).toEqual({ host: '127.0.0.1', port: 2375 });
    expect(() => engineEndpoint({ DOCKER_HOST: 'ssh://me@host' })).toThrow(/not supported/);
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
    const done = readLogLines(src, true, (l) => { got.push(`${l.ts}|${l.line}`); });
    src.write('2026-11-24T18:00:00.1Z one\n2026-11-24T18:00:01Z tw');
    src.end('o-no-newline');
    await done;
    expect(got).toEqual(['2026-11-24T18:00:00.100000000Z|one', '2026-11-24T18:00:01.000000000Z|two-no-newline']);
  });
});
