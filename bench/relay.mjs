// npm run bench:relay — moat-init's relay (socat, TCP on 127.0.0.1 to the gateway's unix socket) with and
// without TCP_NODELAY, inside one container (--network none) of an image that has socat and Node: the
// newest moat image with Node (BENCH_IMAGE to choose one; `npm run bench:proxy -- --inside` builds one).
// Sequential keep-alive requests whose answers come in two writes (head, then body); prints p50/p90.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('./lib/relay/', import.meta.url));
const probe = (img) =>
  spawnSync('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'sh', img, '-c', 'command -v node && command -v socat'], { stdio: 'ignore' })
    .status === 0;
const image =
  process.env.BENCH_IMAGE ??
  execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'moat-image'], { encoding: 'utf8' }).split('\n').filter(Boolean).find(probe);
if (!image) throw new Error('No moat image with Node and socat: run `npm run bench:proxy -- --inside` once, or set BENCH_IMAGE.');
const rounds = Number(process.env.BENCH_RUNS ?? 3);
const script = [
  'node /b/server.mjs /tmp/s.sock & sleep 1',
  'socat -t 600 TCP-LISTEN:47001,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:/tmp/s.sock &',
  'socat -t 600 TCP-LISTEN:47002,bind=127.0.0.1,reuseaddr,fork,nodelay UNIX-CONNECT:/tmp/s.sock &',
  'sleep 0.5',
  `for i in $(seq ${rounds}); do printf "without nodelay: "; node /b/client.mjs 47001; printf "with nodelay:    "; node /b/client.mjs 47002; done`,
].join('\n');
console.log(`image ${image}, 300 sequential requests per line, ${rounds} rounds interleaved`);
const r = spawnSync('docker', ['run', '--rm', '--network', 'none', '-v', `${dir}:/b:ro`, '--entrypoint', 'sh', image, '-c', script], { stdio: 'inherit' });
process.exit(r.status ?? 1);
