/**
 * A fake Anthropic Messages API for the agent tests: `POST /v1/messages` answers with the streaming wire
 * format Claude Code reads (message_start, content_block_start/delta/stop, message_delta, message_stop),
 * or a plain JSON message when the request does not stream. With `writeFile`, the first request that
 * offers the Write tool gets a tool_use block writing that file; the request carrying its tool_result
 * gets the text reply. HTTPS with its own test CA (see upstream.ts); it records every request, so a test
 * can check which credential arrived.
 */
import type http from 'node:http';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from './upstream.js';

export interface FakeAnthropicOptions {
  /** The assistant's text reply. */
  reply?: string;
  /** Ask the agent to write this file (absolute path inside the container) before replying. */
  writeFile?: { path: string; content: string };
}

export interface MessagesCall {
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeAnthropic {
  upstream: FakeUpstream;
  port: number;
  caPem: string;
  /** Every request to /v1/messages with its parsed body. */
  messages: MessagesCall[];
  requests: RecordedRequest[];
  /** The tool_use blocks sent. */
  toolUses: number;
  close(): Promise<void>;
}

type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** True when any message carries a tool_result block (the agent ran our tool). */
function hasToolResult(body: Record<string, unknown>): boolean {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<{ content?: unknown }>) : [];
  return messages.some((m) => Array.isArray(m.content) && (m.content as Array<{ type?: string }>).some((b) => b.type === 'tool_result'));
}

function offersTool(body: Record<string, unknown>, name: string): boolean {
  return Array.isArray(body.tools) && (body.tools as Array<{ name?: string }>).some((t) => t.name === name);
}

function sse(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

let seq = 0;

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const reply = opts.reply ?? 'Hello from the fake Anthropic API.';
  const messages: MessagesCall[] = [];
  let toolUses = 0;

  const answer = (body: Record<string, unknown>): { blocks: Block[]; stop: string } => {
    if (opts.writeFile && offersTool(body, 'Write') && !hasToolResult(body)) {
      toolUses += 1;
      return {
        blocks: [
          { type: 'text', text: 'Writing the file.' },
          {
            type: 'tool_use',
            id: `toolu_fake${String(++seq).padStart(4, '0')}`,
            name: 'Write',
            input: { file_path: opts.writeFile.path, content: opts.writeFile.content },
          },
        ],
        stop: 'tool_use',
      };
    }
    return { blocks: [{ type: 'text', text: reply }], stop: 'end_turn' };
  };

  const onMessages = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void readBody(req).then((text) => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'body is not JSON' } }));
        return;
      }
      messages.push({ headers: req.headers, body });
      const model = typeof body.model === 'string' ? body.model : 'claude-sonnet-4-5';
      const id = `msg_fake${String(++seq).padStart(6, '0')}`;
      const { blocks, stop } = answer(body);
      const usage = { input_tokens: 12, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
      if (body.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${id}` });
        res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model, content: blocks, stop_reason: stop, stop_sequence: null, usage }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${id}` });
      sse(res, 'message_start', {
        type: 'message_start',
        message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
      });
      sse(res, 'ping', { type: 'ping' });
      blocks.forEach((block, index) => {
        if (block.type === 'text') {
          sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
          // Two deltas, to exercise streaming.
          const half = Math.ceil(block.text.length / 2);
          for (const part of [block.text.slice(0, half), block.text.slice(half)]) {
            if (part) sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: part } });
          }
        } else {
          sse(res, 'content_block_start', {
            type: 'content_block_start',
            index,
            content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
          });
          sse(res, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) },
          });
        }
        sse(res, 'content_block_stop', { type: 'content_block_stop', index });
      });
      sse(res, 'message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 7 } });
      sse(res, 'message_stop', { type: 'message_stop' });
      res.end();
    });
  };

  const countTokens = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ input_tokens: 12 }));
    });
  };

  const upstream = await startFakeUpstream({ routes: { '/v1/messages': onMessages, '/v1/messages/count_tokens': countTokens } });
  return {
    upstream,
    port: upstream.httpsPort,
    caPem: upstream.ca.certPem,
    messages,
    requests: upstream.requests,
    get toolUses() {
      return toolUses;
    },
    close: () => upstream.close(),
  };
}
