import { waitFor } from "./wait-for.ts";

/** One dispatched server-sent event: the fields of a block ended by a blank line. */
export interface SseFrame {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * A minimal server-sent events client over a real socket (`fetch`), reading the body
 * incrementally and parsing frames as they arrive (per the WHATWG event-stream rules:
 * `field: value` lines, `:` comments, a blank line dispatches). Frames and comments are
 * collected for assertions; `close()` aborts the request.
 */
export class SseClient {
  readonly frames: SseFrame[] = [];
  readonly comments: string[] = [];
  private readonly controller = new AbortController();
  private pump: Promise<void> = Promise.resolve();
  /** Set when the server ended the stream (or the read failed other than by close()). */
  ended = false;
  status = 0;
  headers = new Headers();
  /** The body of a non-200 answer (parsed JSON when it is JSON). */
  errorBody: unknown;
  /** A read failure other than our own abort (e.g. the server reset the connection). */
  readError: unknown;

  private constructor(readonly url: string) {}

  static async connect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient(url);
    const response = await fetch(url, {
      headers: { accept: "text/event-stream", ...headers },
      signal: client.controller.signal,
    });
    client.status = response.status;
    client.headers = response.headers;
    if (response.status !== 200 || !response.body) {
      const text = await response.text();
      try {
        client.errorBody = JSON.parse(text);
      } catch {
        client.errorBody = text;
      }
      client.ended = true;
      return client;
    }
    client.pump = client.read(response.body);
    return client;
  }

  /** Frames of events (not comments), optionally of one type. */
  events(type?: string): SseFrame[] {
    return type === undefined ? [...this.frames] : this.frames.filter((f) => f.event === type);
  }

  ids(): string[] {
    return this.frames.flatMap((f) => (f.id === undefined ? [] : [f.id]));
  }

  /** Waits until at least `count` frames satisfy `predicate` (bounded). */
  async waitForFrames(
    count: number,
    predicate: (frame: SseFrame) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<SseFrame[]> {
    return waitFor(
      () => {
        const matching = this.frames.filter(predicate);
        return matching.length >= count ? matching : undefined;
      },
      timeoutMs,
      { what: `${count} SSE frame(s) on ${this.url} (have ${this.frames.length})`, intervalMs: 20 },
    );
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.pump;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let block: string[] = [];
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        // Lines end with \r\n, \n or \r; keep a trailing partial line (or a lone \r that
        // may be the first half of \r\n) for the next chunk.
        let match: RegExpExecArray | null;
        const lineEnd = /\r\n|\n|\r(?!$)/g;
        let start = 0;
        while ((match = lineEnd.exec(buffer)) !== null) {
          const line = buffer.slice(start, match.index);
          start = match.index + match[0].length;
          if (line === "") {
            this.dispatch(block);
            block = [];
          } else block.push(line);
        }
        buffer = buffer.slice(start);
      }
    } catch (error) {
      if (!this.controller.signal.aborted) this.readError = error;
    } finally {
      this.ended = true;
    }
  }

  private dispatch(lines: string[]) {
    let id: string | undefined;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of lines) {
      if (line.startsWith(":")) {
        this.comments.push(line.slice(1).trimStart());
        continue;
      }
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    // Per the spec, a block without data dispatches nothing (e.g. `retry:` alone).
    if (data.length > 0) this.frames.push({ id, event, data: data.join("\n") });
  }
}
