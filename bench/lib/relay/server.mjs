// bench:relay's server: answers every request with a head and then, a tick later, a small body, as the
// gateway does for a streamed (unsized) answer. Listens on the unix socket given as the argument.
import http from 'node:http';
import { rmSync } from 'node:fs';
import { setImmediate } from 'node:timers';

const path = process.argv[2];
rmSync(path, { force: true });
http
  .createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    setImmediate(() => res.end('hello\n'));
  })
  .listen(path);
