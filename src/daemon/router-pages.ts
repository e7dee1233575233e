import type { ServerResponse } from 'node:http';
import { serviceUrl, type RunService } from '../gateway/routes.js';

/** What the index and error pages list: live runs with services, as the router knows them. */
export interface RouteListing {
  run: string;
  id: string;
  services: RunService[];
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The index document (`Accept: application/json`): every live run and its services' URLs. */
export function indexDocument(routes: RouteListing[], port: number): unknown {
  return {
    runs: routes.map((r) => ({
      name: r.run,
      id: r.id,
      url: serviceUrl(r.run, undefined, port),
      services: r.services.map((s) => ({ name: s.name, port: s.port, url: serviceUrl(r.run, s.name, port), https: serviceUrl(r.run, s.name, port, 'https') })),
    })),
  };
}

function listing(routes: RouteListing[], port: number): string {
  if (routes.length === 0) return '<p>No run with ports is running.</p>';
  const items = routes.map((r) => {
    const services = r.services
      .map((s) => {
        const url = serviceUrl(r.run, s.name, port);
        return `<li><a href="${esc(url)}">${esc(s.name)}</a> <code>${esc(url)}</code> (port ${s.port} in the run)</li>`;
      })
      .join('');
    return `<li><strong>${esc(r.run)}</strong> <small>${esc(r.id)}</small><ul>${services}</ul></li>`;
  });
  return `<ul>${items.join('')}</ul>`;
}

function page(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>` +
    '<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:3em auto;padding:0 1em}code{font-size:90%}</style>' +
    `</head><body><h1>${esc(title)}</h1>${body}</body></html>\n`
  );
}

export function wantsJson(accept: string | undefined): boolean {
  return /\bapplication\/json\b/i.test(accept ?? '');
}

function send(res: ServerResponse, status: number, json: boolean, doc: unknown, html: string): void {
  const body = json ? `${JSON.stringify(doc)}\n` : html;
  res.writeHead(status, {
    'content-type': json ? 'application/json' : 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    // Moat's own pages run no script and are never framed.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'x-moat-router': String(status),
  });
  res.end(body);
}

export function sendIndex(res: ServerResponse, routes: RouteListing[], port: number, accept: string | undefined): void {
  send(res, 200, wantsJson(accept), indexDocument(routes, port), page('Moat runs', listing(routes, port)));
}

/** 404: no live run (or no service of it) has this name; lists what is running. */
export function sendUnknown(res: ServerResponse, host: string, routes: RouteListing[], port: number, accept: string | undefined): void {
  const what = `Nothing is served at ${host}.`;
  send(
    res,
    404,
    wantsJson(accept),
    { error: { code: 'E_NOT_FOUND', message: what }, ...(indexDocument(routes, port) as object) },
    page('Not found', `<p>${esc(what)} These runs are serving:</p>${listing(routes, port)}`),
  );
}

/** 502: the run stopped, or nothing in it answers on the service's port. */
export function sendBadGateway(res: ServerResponse, message: string, accept: string | undefined): void {
  if (res.headersSent) return void res.destroy();
  send(res, 502, wantsJson(accept), { error: { code: 'E_BAD_GATEWAY', message } }, page('Bad gateway', `<p>${esc(message)}</p>`));
}
