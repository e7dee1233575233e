import { execFile, spawn } from 'node:child_process';
import type http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Route } from './upstream.js';

const execFileP = promisify(execFile);

/**
 * A fake git smart-HTTP server, as routes for test/fakes/upstream.ts: the real `git http-backend` runs as
 * a CGI per request over a bare repository `<owner>/<name>.git` (with one commit on `main`) created under
 * `root`. Every request must carry `Authorization: Basic base64("x-access-token:" + token)`, else 401
 * with `WWW-Authenticate: Basic`. Loopback/test only.
 */
export interface FakeGitHttp {
  /** Exact-path routes to pass to startFakeUpstream. */
  routes: Record<string, Route>;
  /** The bare repository on disk. */
  bareDir: string;
  /** Every request seen: path, headers, the Authorization header received, and the status answered. */
  requests: { method: string; path: string; headers: http.IncomingHttpHeaders; authorization: string | undefined; status: number }[];
  /** `git` in the bare repository (e.g. ['log', '--format=%s', 'main']), stdout returned. */
  git(args: string[]): Promise<string>;
}

/** Environment for host-side git: no user or system configuration leaks in. */
function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Fake Upstream',
    GIT_AUTHOR_EMAIL: 'fake@example.test',
    GIT_COMMITTER_NAME: 'Fake Upstream',
    GIT_COMMITTER_EMAIL: 'fake@example.test',
  };
}

export async function createFakeGitHttp(opts: { root: string; repo: string; token: string }): Promise<FakeGitHttp> {
  const projectRoot = join(opts.root, 'git-projects');
  const bareDir = join(projectRoot, `${opts.repo}.git`);
  const seed = join(opts.root, 'git-seed');
  const env = gitEnv(opts.root);
  const run = async (args: string[], cwd: string): Promise<string> => (await execFileP('git', args, { cwd, env })).stdout;

  await mkdir(seed, { recursive: true });
  await run(['init', '-q', '-b', 'main'], seed);
  await writeFile(join(seed, 'README.md'), '# fake repo\n');
  await run(['add', 'README.md'], seed);
  await run(['commit', '-q', '-m', 'initial commit'], seed);
  await mkdir(join(projectRoot, opts.repo, '..'), { recursive: true });
  await run(['clone', '-q', '--bare', seed, bareDir], opts.root);

  const expected = `Basic ${Buffer.from(`x-access-token:${opts.token}`).toString('base64')}`;
  const requests: FakeGitHttp['requests'] = [];

  const route: Route = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authorization = req.headers.authorization;
    const record = (status: number): void => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, authorization, status });
    };
    if (authorization !== expected) {
      record(401);
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake-github"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    cgi(req, res, url, projectRoot, env, record);
  };

  const base = `/${opts.repo}.git`;
  const routes: Record<string, Route> = {
    [`${base}/info/refs`]: route,
    [`${base}/git-upload-pack`]: route,
    [`${base}/git-receive-pack`]: route,
    [`${base}/HEAD`]: route,
  };
  return { routes, bareDir, requests, git: (args) => run(args, bareDir) };
}

/** Run `git http-backend` for one request; relay the body both ways and translate its CGI headers. */
function cgi(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  projectRoot: string,
  baseEnv: NodeJS.ProcessEnv,
  record: (status: number) => void,
): void {
  const env: NodeJS.ProcessEnv = {
    ...baseEnv,
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: url.pathname,
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_USER: 'x-access-token',
    REMOTE_ADDR: '127.0.0.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
  };
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
  const proto = req.headers['git-protocol'];
  if (typeof proto === 'string') env.GIT_PROTOCOL = proto;

  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr += c;
  });
  child.stdin.on('error', () => undefined);
  req.pipe(child.stdin);

  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
    if (end < 0) return;
    const sep = end === crlf ? 4 : 2;
    const headerText = head.subarray(0, end).toString('latin1');
    const rest = head.subarray(end + sep);
    headersDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of headerText.split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
      else headers[name] = value;
    }
    record(status);
    res.writeHead(status, headers);
    if (rest.length > 0) res.write(rest);
  });
  child.once('error', (err) => {
    record(500);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`git http-backend failed: ${err.message}\n`);
  });
  child.once('close', (code) => {
    if (!headersDone) {
      record(500);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`git http-backend exited ${String(code)} without headers: ${stderr}\n`);
      return;
    }
    res.end();
  });
}
