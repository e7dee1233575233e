/**
 * A fake OpenAI Responses API for the Codex tests, HTTPS with its own test CA. `POST /v1/responses` (and
 * ChatGPT's `/backend-api/codex/responses`) streams the SSE events Codex reads (response.created,
 * response.output_item.added, response.output_text.delta, response.output_item.done, response.completed
 * with usage). A WebSocket upgrade of either path is either served (each `response.create` message answered with the same
 * events as text frames) or refused with 404 so Codex falls back to HTTPS at once. With `writeFile`, the
 * first request offering a shell tool gets a function call that writes the file; the request carrying
 * its output gets the text reply. Every request is recorded with its headers.
 */
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { decompress as zstdDecompress } from 'fzstd';
import { WebSocketServer, type WebSocket } from 'ws';
import { createCA, type CA } from '../../src/gateway/ca.js';
import { LeafCache } from '../../src/gateway/leaf.js';

export interface FakeOpenAIOptions {
  reply?: string;
  /** 'serve' (default): answer Responses over WebSocket; 'refuse': 404 on upgrade. */
  websocket?: 'serve' | 'refuse';
  /** Ask the agent to write this file (absolute path inside the container) before replying. */
  writeFile?: { path: string; content: string };
  /** The ChatGPT account the fake signs in (Codex's workspace routing discovery, /backend-api/wham/accounts/check). */
  chatgptAccount?: { id: string; plan?: string };
  /** Awaited before a turn (0-based, over HTTPS and WebSocket) is answered: lets a test hold a turn. */
  beforeTurn?: (index: number) => Promise<void>;
}

/** The Responses endpoint for an API key (api.openai.com) and for the ChatGPT sign-in (chatgpt.com). */
const RESPONSES_PATHS = new Set(['/v1/responses', '/backend-api/codex/responses']);

export interface OpenAIRequest {
  method: string;
  path: string;
  host: string | undefined;
  headers: http.IncomingHttpHeaders;
  websocket: boolean;
  body?: Record<string, unknown>;
}

export interface FakeOpenAI {
  ca: CA;
  caPem: string;
  port: number;
  requests: OpenAIRequest[];
  /** Turns answered (HTTPS posts and WebSocket response.create messages). */
  turns: Array<{ via: 'https' | 'websocket'; body: Record<string, unknown> }>;
  functionCalls: number;
  close(): Promise<void>;
}

type Item = Record<string, unknown>;
type Event = Record<string, unknown> & { type: string };

/** Codex's workspace routing discovery: the signed-in user's workspaces, here one personal one without constraints. */
const ACCOUNTS_SHAPE = (id: string, plan: string): unknown => ({
  accounts: [
    {
      id,
      name: null,
      structure: 'personal',
      plan_type: plan,
      is_deactivated: false,
      workspace_backend_origin: 'NO_CONSTRAINT',
      account_routing_override: 'NO_CONSTRAINT',
    },
  ],
  default_account_id: id,
});

let seq = 0;
const nextId = (prefix: string): string => `${prefix}_fake${String(++seq).padStart(6, '0')}`;

const USAGE = {
  input_tokens: 12,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 7,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 19,
};

/** Tool names the request offers: top-level `tools` and tools nested in `additional_tools` input items and namespaces. */
function toolNames(body: Record<string, unknown>): string[] {
  const names: string[] = [];
  const walk = (tools: unknown): void => {
    if (!Array.isArray(tools)) return;
    for (const t of tools as Array<{ name?: string; type?: string; tools?: unknown }>) {
      if (t.type === 'namespace') walk(t.tools);
      else if (t.name) names.push(t.name);
    }
  };
  walk(body.tools);
  if (Array.isArray(body.input))
    for (const item of body.input as Array<{ type?: string; tools?: unknown }>) if (item.type === 'additional_tools') walk(item.tools);
  return names;
}

function hasFunctionOutput(body: Record<string, unknown>): boolean {
  const input = Array.isArray(body.input) ? (body.input as Array<{ type?: string }>) : [];
  return input.some((i) => i.type === 'function_call_output' || i.type === 'custom_tool_call_output');
}

/** A tool call that writes `path`, for whichever shell tool the request offers. */
function shellCall(tools: string[], path: string, content: string): Item | undefined {
  const script = `printf '%s\\n' '${content.replace(/'/g, `'\\''`)}' > '${path}'`;
  const fn = (name: string, args: Record<string, unknown>): Item => ({
    type: 'function_call',
    id: nextId('fc'),
    call_id: nextId('call'),
    name,
    arguments: JSON.stringify(args),
    status: 'completed',
  });
  // Codex 0.169: one JavaScript `exec` tool whose nested tools include exec_command.
  if (tools.includes('exec') && tools.includes('wait')) {
    return {
      type: 'custom_tool_call',
      id: nextId('ctc'),
      call_id: nextId('call'),
      name: 'exec',
      input: `const r = await tools.exec_command({ cmd: ${JSON.stringify(script)} });\ntext(JSON.stringify(r));\n`,
      status: 'completed',
    };
  }
  if (tools.includes('shell_command')) return fn('shell_command', { command: script });
  if (tools.includes('exec_command')) return fn('exec_command', { cmd: script });
  if (tools.includes('shell')) return fn('shell', { command: ['bash', '-lc', script] });
  return undefined;
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const reply = opts.reply ?? 'Hello from the fake OpenAI API.';
  const ca = await createCA('Moat Test OpenAI CA');
  const leafs = new LeafCache(ca);
  const requests: OpenAIRequest[] = [];
  const turns: FakeOpenAI['turns'] = [];
  let functionCalls = 0;

  /** The events of one turn. */
  const events = (body: Record<string, unknown>): Event[] => {
    const responseId = nextId('resp');
    const model = typeof body.model === 'string' ? body.model : 'gpt-5';
    const base = { id: responseId, object: 'response', created_at: Math.floor(Date.now() / 1000), model, status: 'in_progress', output: [] };
    const out: Event[] = [{ type: 'response.created', response: base }];
    let item: Item;
    const call = opts.writeFile && !hasFunctionOutput(body) ? shellCall(toolNames(body), opts.writeFile.path, opts.writeFile.content) : undefined;
    if (call) {
      functionCalls += 1;
      item = call;
      out.push({
        type: 'response.output_item.added',
        output_index: 0,
        item: call.type === 'function_call' ? { ...call, arguments: '' } : { ...call, input: '' },
      });
    } else {
      const id = nextId('msg');
      item = { type: 'message', id, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: reply, annotations: [] }] };
      out.push({ type: 'response.output_item.added', output_index: 0, item: { type: 'message', id, role: 'assistant', status: 'in_progress', content: [] } });
      const half = Math.ceil(reply.length / 2);
      for (const delta of [reply.slice(0, half), reply.slice(half)].filter(Boolean)) {
        out.push({ type: 'response.output_text.delta', item_id: id, output_index: 0, content_index: 0, delta });
      }
    }
    out.push({ type: 'response.output_item.done', output_index: 0, item });
    out.push({ type: 'response.completed', response: { ...base, status: 'completed', output: [item], usage: USAGE } });
    return out;
  };

  /** A turn waits for the test's hold, if any; a failing hold answers anyway (the test asserts on it). */
  const hold = (index: number): Promise<void> => (opts.beforeTurn ? opts.beforeTurn(index).catch(() => undefined) : Promise.resolve());

  const record = (req: http.IncomingMessage, websocket: boolean, body?: Record<string, unknown>): void => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', host: req.headers.host, headers: req.headers, websocket, ...(body ? { body } : {}) });
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      // Codex compresses its ChatGPT request bodies with zstd (Node 20's zlib has no zstd).
      const text = (req.headers['content-encoding'] === 'zstd' ? Buffer.from(zstdDecompress(raw)) : raw).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      } catch {
        body = undefined;
      }
      record(req, false, body);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'POST' && RESPONSES_PATHS.has(path) && body) {
        const index = turns.push({ via: 'https', body }) - 1;
        // Headers at once (a held turn then looks like a slow model, not a dead server).
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': nextId('req') });
        res.flushHeaders();
        void hold(index).then(() => {
          for (const ev of events(body)) res.write(`event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
          res.end();
        });
        return;
      }
      if (req.method === 'GET' && path === '/backend-api/wham/accounts/check' && opts.chatgptAccount) {
        const { id, plan = 'pro' } = opts.chatgptAccount;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ACCOUNTS_SHAPE(id, plan)));
        return;
      }
      if (req.method === 'GET' && path === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [], models: [] }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `fake OpenAI: no route for ${req.method ?? ''} ${path}`, type: 'invalid_request_error' } }));
    });
  };

  const server = https.createServer(
    {
      SNICallback: (name, cb) =>
        leafs.get(name).then(
          (c) => cb(null, c),
          (e: Error) => cb(e),
        ),
      secureContext: await leafs.get('localhost'),
    },
    handler,
  );
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(String(data)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg.type !== 'response.create') return;
      const index = turns.push({ via: 'websocket', body: msg }) - 1;
      void hold(index).then(() => {
        for (const ev of events(msg)) ws.send(JSON.stringify(ev));
      });
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
    record(req, true);
    socket.on('error', () => socket.destroy());
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (opts.websocket === 'refuse' || !RESPONSES_PATHS.has(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    ca,
    caPem: ca.certPem,
    port: (server.address() as AddressInfo).port,
    requests,
    turns,
    get functionCalls() {
      return functionCalls;
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
