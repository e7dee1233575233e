import { describe, expect, it } from 'vitest';
import { BuildStream } from '../../../src/runtime/docker/build-stream.js';
import { buildQuery } from '../../../src/runtime/docker/build.js';
import type { BuildRequest } from '../../../src/runtime/types.js';

const msg = (o: object): string => `${JSON.stringify(o)}\r\n`;

function run(chunks: Array<string | Buffer>): { lines: string[]; s: BuildStream } {
  const lines: string[] = [];
  const s = new BuildStream((l) => lines.push(l));
  for (const c of chunks) s.write(c);
  s.end();
  return { lines, s };
}

const CLASSIC = [
  msg({ stream: 'Step 1/2 : FROM debian:bookworm-slim\n' }),
  msg({ stream: ' ---> 30da6ccccfdd\n' }),
  msg({ stream: 'Step 2/2 : RUN echo héllo\n' }),
  msg({ stream: ' ---> Running in 0123456789ab\n' }),
  msg({ stream: 'hél' }),
  msg({ stream: 'lo wor' }),
  msg({ stream: 'ld\r\nsecond line\n\n   \n' }),
  msg({ aux: { ID: 'sha256:feedbeef' } }),
  msg({ stream: 'Successfully built feedbeef\n' }),
];
const CLASSIC_LINES = [
  'Step 1/2 : FROM debian:bookworm-slim',
  ' ---> 30da6ccccfdd',
  'Step 2/2 : RUN echo héllo',
  ' ---> Running in 0123456789ab',
  'héllo world',
  'second line',
  'Successfully built feedbeef',
];

describe('the build progress stream', () => {
  it('joins step output that spans messages into lines, drops blank ones and keeps the image ID', () => {
    const { lines, s } = run(CLASSIC);
    expect(lines).toEqual(CLASSIC_LINES);
    expect(s.imageId).toBe('sha256:feedbeef');
    expect(s.error).toBeUndefined();
  });

  it('reads the same whatever the chunking, even inside a UTF-8 character', () => {
    const all = Buffer.from(CLASSIC.join(''));
    for (let cut = 1; cut < all.length; cut += 7) {
      const { lines } = run([all.subarray(0, cut), all.subarray(cut, cut + 3), all.subarray(cut + 3)]);
      expect(lines).toEqual(CLASSIC_LINES);
    }
    const bytes = [...all].map((b) => Buffer.from([b]));
    expect(run(bytes).lines).toEqual(CLASSIC_LINES);
  });

  it("fails with the engine's message: errorDetail first, the deprecated error field otherwise; the first one wins", () => {
    const detail = run([
      msg({ stream: 'Step 2/2 : RUN exit 3\n' }),
      msg({ errorDetail: { code: 3, message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3" }, error: 'old field' }),
      msg({ error: 'a later error' }),
    ]);
    expect(detail.s.error).toBe("The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    expect(detail.lines).toEqual(['Step 2/2 : RUN exit 3']);
    expect(run([msg({ error: 'only the old field' })]).s.error).toBe('only the old field');
    expect(run([msg({ errorDetail: { message: 'only the detail' } })]).s.error).toBe('only the detail');
  });

  it('an unfinished output line before an error still comes out, before the failure', () => {
    const { lines, s } = run([msg({ stream: 'partial without newline' }), msg({ errorDetail: { message: 'boom' } })]);
    expect(lines).toEqual(['partial without newline']);
    expect(s.error).toBe('boom');
  });

  it('shows pull status lines with their layer, not the progress ticks', () => {
    const { lines } = run([
      msg({ status: 'Pulling from library/debian', id: 'bookworm-slim' }),
      msg({ status: 'Pulling fs layer', progressDetail: {}, id: 'abc123' }),
      msg({ status: 'Downloading', progressDetail: { current: 100, total: 1000 }, progress: '[=>   ] 100B/1kB', id: 'abc123' }),
      msg({ status: 'Extracting', progressDetail: { current: 1000, total: 1000 }, id: 'abc123' }),
      msg({ status: 'Pull complete', progressDetail: {}, id: 'abc123' }),
      msg({ status: 'Digest: sha256:0123' }),
    ]);
    expect(lines).toEqual(['bookworm-slim: Pulling from library/debian', 'abc123: Pulling fs layer', 'abc123: Pull complete', 'Digest: sha256:0123']);
  });

  it('passes on a line that is not a JSON message as it came', () => {
    const { lines, s } = run(['plain text from a proxy\n', '[1,2]\n', 'null\n', msg({ stream: 'ok\n' })]);
    expect(lines).toEqual(['plain text from a proxy', '[1,2]', 'null', 'ok']);
    expect(s.error).toBeUndefined();
  });

  it('a last message without its newline counts', () => {
    const { lines, s } = run([msg({ stream: 'a\n' }), JSON.stringify({ errorDetail: { message: 'last' } })]);
    expect(lines).toEqual(['a']);
    expect(s.error).toBe('last');
  });

  it('stays bounded: an endless message fails the build and the stream goes on after its newline', () => {
    const lines: string[] = [];
    const s = new BuildStream((l) => lines.push(l));
    const mb = 'x'.repeat(1024 * 1024);
    s.write('{"stream":"');
    for (let i = 0; i < 12; i++) s.write(mb);
    s.write('"}\n');
    s.write(msg({ stream: 'after\n' }));
    s.end();
    expect(s.error).toMatch(/longer than/);
    expect(lines).toEqual(['after']);
  });

  it('cuts a very long output line into pieces of 64 KiB, whether or not its newline came in the same message', () => {
    const long = 'y'.repeat(200 * 1024);
    for (const chunks of [[`${long}\n`], [long.slice(0, 100_000), `${long.slice(100_000)}\nnext\n`], [long, '\n']]) {
      const { lines } = run(chunks.map((c) => msg({ stream: c })));
      expect(lines.slice(0, 4).join('')).toBe(long);
      expect(lines.map((l) => l.length)).toEqual([65536, 65536, 65536, 8192, ...(lines.length > 4 ? [4] : [])]);
    }
  });
});

describe('the build request', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU+/=\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----';
  const req: BuildRequest = {
    contextDir: '/nonexistent',
    files: ['Dockerfile'],
    tag: 'moat-image:abc',
    labels: { 'moat.managed': 'true', 'moat.home': '/home/u/.moat' },
    buildArgs: { MOAT_BUILD_CA: PEM },
    networkMode: 'container:0123abcd',
    onOutput: () => undefined,
  };

  it('asks for the classic builder, names the network and the tag, and carries labels and args as JSON', () => {
    const q = buildQuery(req);
    expect(q).toEqual({
      t: 'moat-image:abc',
      labels: JSON.stringify(req.labels),
      buildargs: JSON.stringify({ MOAT_BUILD_CA: PEM }),
      nocache: '0',
      rm: '1',
      forcerm: '1',
      networkmode: 'container:0123abcd',
      version: '1',
    });
    expect(buildQuery({ ...req, noCache: true }).nocache).toBe('1');
  });
});
