import { StringDecoder } from 'node:string_decoder';

/** One message of the engine's JSON progress stream (`POST /build`, one JSON object per line). */
interface ProgressMessage {
  stream?: unknown;
  status?: unknown;
  id?: unknown;
  progress?: unknown;
  progressDetail?: { current?: unknown; total?: unknown } | null;
  error?: unknown;
  errorDetail?: { message?: unknown } | null;
  aux?: { ID?: unknown } | null;
}

/** The longest JSON message kept while waiting for its newline; an engine sends a few KiB at most. */
const MAX_MESSAGE_CHARS = 8 * 1024 * 1024;
/** The longest output line passed on whole; a longer one is passed on in pieces of this size. */
const MAX_LINE_CHARS = 64 * 1024;

/**
 * Reads a build's progress stream: step output (`stream`, whose lines may span messages) and pull
 * status become lines for `onLine`; `errorDetail`/`error` is the failure; `aux.ID` the built image.
 * Linear in the input and bounded in memory whatever the engine sends.
 */
export class BuildStream {
  /** The engine's message when the build failed (the first one). */
  error: string | undefined;
  /** The ID of the built image (`aux.ID`, sent last by a successful classic build). */
  imageId: string | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private text = '';
  private discarding = false;

  constructor(private readonly onLine: (line: string) => void) {}

  write(chunk: Buffer | string): void {
    const s = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let from = 0;
    for (let nl = s.indexOf('\n'); nl >= 0; nl = s.indexOf('\n', from)) {
      const part = s.slice(from, nl);
      from = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const line = this.pending + part;
      this.pending = '';
      this.message(line);
    }
    if (this.discarding) return;
    if (this.pending.length + (s.length - from) > MAX_MESSAGE_CHARS) {
      // Drop the rest of an oversized message up to its newline; the build counts as failed.
      this.pending = '';
      this.discarding = true;
      this.error ??= `the engine sent a build message longer than ${MAX_MESSAGE_CHARS} characters`;
      return;
    }
    this.pending += s.slice(from);
  }

  /** The stream ended: a last message without a newline, and a last output line, count all the same. */
  end(): void {
    const rest = this.discarding ? '' : this.pending + this.decoder.end();
    this.pending = '';
    this.discarding = false;
    if (rest.trim().length > 0) this.message(rest);
    this.flushText();
  }

  private message(raw: string): void {
    const line = raw.trim();
    if (line.length === 0) return;
    let m: ProgressMessage;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      m = parsed as ProgressMessage;
    } catch {
      this.addText(`${line}\n`); // not JSON: show it as it came
      return;
    }
    if (typeof m.stream === 'string') this.addText(m.stream);
    const detail = m.errorDetail?.message;
    const failure = typeof detail === 'string' && detail.length > 0 ? detail : typeof m.error === 'string' ? m.error : undefined;
    if (failure !== undefined) {
      this.flushText();
      this.error ??= failure.trim();
    }
    if (typeof m.aux?.ID === 'string') this.imageId = m.aux.ID;
    if (typeof m.status === 'string' && !isProgressTick(m)) {
      this.flushText();
      this.emit(typeof m.id === 'string' && m.id.length > 0 ? `${m.id}: ${m.status}` : m.status);
    }
  }

  /** Step output arrives in chunks, not lines: join the pieces, cut at newlines and at MAX_LINE_CHARS. */
  private addText(s: string): void {
    let from = 0;
    for (;;) {
      const nl = s.indexOf('\n', from);
      const t = this.text + s.slice(from, nl < 0 ? s.length : nl);
      let i = 0;
      while (t.length - i > MAX_LINE_CHARS) {
        let cut = i + MAX_LINE_CHARS;
        const code = t.charCodeAt(cut - 1);
        if (code >= 0xd800 && code <= 0xdbff) cut -= 1; // keep a surrogate pair whole
        this.emit(t.slice(i, cut));
        i = cut;
      }
      this.text = i > 0 ? t.slice(i) : t;
      if (nl < 0) return;
      from = nl + 1;
      this.flushText();
    }
  }

  private flushText(): void {
    const t = this.text;
    this.text = '';
    this.emit(t.endsWith('\r') ? t.slice(0, -1) : t);
  }

  private emit(line: string): void {
    if (line.trim().length > 0) this.onLine(line);
  }
}

/** A download/extract progress tick ("Downloading [==>  ] 1.2MB/30MB"): a terminal redraws it; a log need not. */
function isProgressTick(m: ProgressMessage): boolean {
  const d = m.progressDetail;
  return (typeof m.progress === 'string' && m.progress.length > 0) || (d !== null && d !== undefined && (d.current !== undefined || d.total !== undefined));
}
