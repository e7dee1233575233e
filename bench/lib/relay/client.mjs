// bench:relay's client: N keep-alive GETs one after the other to 127.0.0.1:PORT; prints p50 and p90.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const port = Number(process.argv[2]);
const n = Number(process.argv[3] ?? 300);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const lat = [];
for (let i = 0; i < n; i += 1) {
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, agent, path: '/' }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
  lat.push(performance.now() - t0);
}
lat.sort((a, b) => a - b);
const at = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2);
console.log(`p50 ${at(0.5)} ms  p90 ${at(0.9)} ms`);
agent.destroy();
