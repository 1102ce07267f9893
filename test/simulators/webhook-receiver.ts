import { randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import { Webhook } from "standardwebhooks";

/**
 * A loopback receiver of Standard Webhooks deliveries for end-to-end tests: records every
 * request in arrival order, verifies each against the configured secrets with the official
 * `standardwebhooks` library (and each `v1,` signature of the header on its own), and
 * answers per a per-path script of behaviours (statuses, redirects, latency, hangs,
 * resets, large bodies, going down).
 *
 *   const receiver = await startWebhookReceiver({ secrets: [secret] });
 *   receiver.respond("/hooks", { status: 503, headers: { "retry-after": "1" } });
 *   // ... register receiver.url() as the endpoint and trigger a delivery ...
 *   const [first, second] = await receiver.waitForRequests(2);
 *   expect(second.verifiedBy).toEqual([secret]);
 *   await receiver.close();
 */

// ---------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------

/** How the receiver answers one request. */
export type ReceiverBehaviour =
  /**
   * Answer `status`. `body`: a string or Buffer as is, anything else as JSON. `bodyBytes`:
   * a body of that many bytes (`x`), streamed, to test response-body capping; `chunked`
   * leaves `content-length` out so only the streamed size tells. Redirects (301/302/307/
   * 308) take their `location` from `headers`, e.g. `receiver.url("/elsewhere")`.
   */
  | {
      status: number;
      headers?: Record<string, string>;
      body?: unknown;
      bodyBytes?: number;
      chunked?: boolean;
    }
  /** Wait `delayMs`, then behave as `then`. */
  | { delayMs: number; then: ReceiverBehaviour }
  /** Never answer; the socket is destroyed by `stop()` / `close()` (or the client). */
  | { hang: true }
  /** Destroy the socket (TCP RST) without answering. */
  | { reset: true }
  /**
   * The receiver goes down: this connection is reset and the port refuses connections
   * (like `stop()`) until `restart()`, or by itself after `upAfterMs`.
   */
  | { down: true; upAfterMs?: number };

/**
 * What was answered: the status, `"hang"`, `"reset"`, `"down"`; `"pending"` while a
 * `delayMs` runs; `"aborted"` when the connection closed before the answer was written
 * (the client gave up during a delay, or `stop()` / `close()` dropped it).
 */
export type RespondedWith = number | "hang" | "reset" | "down" | "pending" | "aborted";

export interface SignatureCheck {
  /** The header entry as sent, e.g. `v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=`. */
  signature: string;
  /** The configured secrets (at receipt) that verify this entry alone. */
  verifiedBy: string[];
}

export interface ReceivedRequest {
  /** 1, 2, ... in arrival order (restarts at 1 after `reset()`). */
  seq: number;
  method: string;
  /** The path without the query, e.g. `/hooks`. */
  path: string;
  /** The raw request target, with the query. */
  url: string;
  /** Lowercased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  rawBody: string;
  /** The body parsed as JSON, or undefined (no body, or not JSON). */
  json: unknown;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
  /** The configured secrets (at receipt) with which `new Webhook(secret).verify` accepts it. */
  verifiedBy: string[];
  /** Why verification failed (distinct messages joined by `; `), when no secret verified it. */
  verifyError?: string;
  /** Each entry of `webhook-signature`, verified on its own against every configured secret. */
  signatureChecks: SignatureCheck[];
  respondedWith: RespondedWith;
}

export interface WebhookReceiverOptions {
  /** Secrets (`whsec_<base64>`) to verify deliveries with; none by default. */
  secrets?: string[];
}

export interface WaitForRequestsOptions {
  /** Count only requests to this path; every path by default. */
  path?: string;
  /** 5 s by default. */
  timeoutMs?: number;
}

/** Every path's behaviour unless scripted otherwise. */
const DEFAULT_BEHAVIOUR: ReceiverBehaviour = { status: 204 };
/** `respond("*", ...)` / `otherwise("*", ...)` apply to paths without their own script. */
const ANY_PATH = "*";
const POLL_INTERVAL_MS = 10;

/** A fresh `whsec_` secret (24 random bytes). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

/** The entries of a `webhook-signature` header (space-separated, e.g. `v1,<base64>`). */
export function parseSignatureHeader(header: string | undefined): string[] {
  return (header ?? "").split(" ").filter((entry) => entry.length > 0);
}

// ---------------------------------------------------------------------------------------
// Receiver
// ---------------------------------------------------------------------------------------

export class WebhookReceiver {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly scripts = new Map<string, ReceiverBehaviour[]>();
  private readonly defaults = new Map<string, ReceiverBehaviour>();
  private recorded: ReceivedRequest[] = [];
  private currentSecrets: string[] = [];
  private seq = 0;
  /** Bumped by `reset()`, so requests read before it are not recorded after it. */
  private generation = 0;
  private port = 0;
  private closed = false;

  private constructor(options: WebhookReceiverOptions) {
    this.setSecrets(options.secrets ?? []);
    this.server = createServer((req, res) => {
      // A bug here must not become an unhandled rejection in the test process.
      this.handle(req, res).catch(() => res.destroy());
    });
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      // Resets and hangs are the point of this server; a peer vanishing is not a failure.
      socket.on("error", () => undefined);
    });
  }

  /** Starts listening on 127.0.0.1 on a free port. */
  static async start(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(options);
    await receiver.listen(0);
    const address = receiver.server.address();
    if (address === null || typeof address === "string") {
      throw new Error("webhook receiver has no port");
    }
    receiver.port = address.port;
    return receiver;
  }

  /** `http://127.0.0.1:<port><path>`; the port survives `stop()` / `restart()`. */
  url(path = "/hooks"): string {
    return `http://127.0.0.1:${this.port}${path.startsWith("/") ? path : `/${path}`}`;
  }

  /** Whether the port accepts connections (false after `stop()`, a `down`, or `close()`). */
  get listening(): boolean {
    return this.server.listening;
  }

  // ----- secrets --------------------------------------------------------------------------

  /** The secrets requests are verified with from now on (e.g. both during a rotation). */
  setSecrets(secrets: string[]): void {
    for (const secret of secrets) new Webhook(secret); // fails fast on an unusable secret
    this.currentSecrets = [...secrets];
  }

  get secrets(): string[] {
    return [...this.currentSecrets];
  }

  /** The entries of the request's `webhook-signature` header. */
  signaturesIn(request: ReceivedRequest): string[] {
    return parseSignatureHeader(request.headers["webhook-signature"]);
  }

  /**
   * Whether the official `new Webhook(secret).verify` accepts the request now (any
   * signature matching; the timestamp within 5 minutes of now). With `signature`, only
   * that one header entry is offered to it.
   */
  verifiesWith(request: ReceivedRequest, secret: string, signature?: string): boolean {
    return verify(request, secret, signature) === undefined;
  }

  // ----- script ---------------------------------------------------------------------------

  /** Queues behaviours for `path` (`"*"`: paths without their own), one per request. */
  respond(path: string, ...behaviours: ReceiverBehaviour[]): this {
    for (const behaviour of behaviours) assertBehaviour(behaviour);
    const queue = this.scripts.get(path) ?? [];
    queue.push(...behaviours);
    this.scripts.set(path, queue);
    return this;
  }

  /** What `path` (`"*"`: every path without its own) answers once its queue is empty. */
  otherwise(path: string, behaviour: ReceiverBehaviour): this {
    assertBehaviour(behaviour);
    this.defaults.set(path, behaviour);
    return this;
  }

  /** Behaviours still queued for `path`. */
  pending(path: string): ReceiverBehaviour[] {
    return [...(this.scripts.get(path) ?? [])];
  }

  private take(path: string): ReceiverBehaviour {
    for (const key of [path, ANY_PATH]) {
      const queued = this.scripts.get(key)?.shift();
      if (queued !== undefined) return queued;
    }
    return this.defaults.get(path) ?? this.defaults.get(ANY_PATH) ?? DEFAULT_BEHAVIOUR;
  }

  // ----- recordings -----------------------------------------------------------------------

  /** The requests received (to `path` only, if given), in arrival order. */
  requests(path?: string): ReceivedRequest[] {
    return this.recorded.filter((r) => path === undefined || r.path === path);
  }

  /**
   * Resolves with the requests (to `path`, if given) once at least `n` arrived; rejects
   * after `timeoutMs` (5 s by default) listing every request that did arrive.
   */
  async waitForRequests(
    n: number,
    options: WaitForRequestsOptions = {},
  ): Promise<ReceivedRequest[]> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const matching = this.requests(options.path);
      if (matching.length >= n) return matching;
      if (Date.now() >= deadline) {
        const where = options.path === undefined ? "" : ` to ${options.path}`;
        throw new Error(
          `webhook receiver: timed out after ${timeoutMs} ms waiting for ${n} request(s)${where}; ` +
            `${matching.length} matching, ${this.recorded.length} received in all:` +
            (this.recorded.length === 0 ? " none" : `\n${this.recorded.map(summarize).join("\n")}`),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }

  /** Forgets recordings, scripts and defaults. Requests hanging right now stay open. */
  reset(): void {
    this.recorded = [];
    this.seq = 0;
    this.generation += 1;
    this.scripts.clear();
    this.defaults.clear();
  }

  // ----- lifecycle ------------------------------------------------------------------------

  /** Closes the listening socket (the port refuses connections) and drops every connection. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (this.closed) throw new Error("webhook receiver is closed");
    if (this.server.listening) return;
    await this.listen(this.port);
  }

  /** Stops listening, destroys every socket (hanging ones included) and cancels timers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.stop();
    this.dropConnections();
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once("error", onError);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", onError);
        resolve();
      });
    });
  }

  private dropConnections(): void {
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  // ----- HTTP -----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = Date.now();
    const generation = this.generation;
    const rawBody = (await readBody(req)).toString("utf8");
    if (generation !== this.generation || this.closed) return void res.destroy();

    const target = req.url ?? "/";
    const headers = flattenHeaders(req.headers);
    const secrets = this.secrets;
    const record: ReceivedRequest = {
      seq: ++this.seq,
      method: (req.method ?? "GET").toUpperCase(),
      path: new URL(target, "http://127.0.0.1").pathname,
      url: target,
      headers,
      rawBody,
      json: parseJson(rawBody),
      receivedAt,
      verifiedBy: [],
      signatureChecks: [],
      respondedWith: "pending",
    };
    const errors = new Set<string>();
    for (const secret of secrets) {
      const error = verify(record, secret);
      if (error === undefined) record.verifiedBy.push(secret);
      else errors.add(error);
    }
    if (secrets.length === 0) errors.add("no secrets configured");
    if (record.verifiedBy.length === 0) record.verifyError = [...errors].join("; ");
    record.signatureChecks = parseSignatureHeader(headers["webhook-signature"]).map(
      (signature) => ({
        signature,
        verifiedBy: secrets.filter((secret) => verify(record, secret, signature) === undefined),
      }),
    );
    this.recorded.push(record);

    // The connection went away (client gave up, stop(), close()) before an answer.
    res.on("close", () => {
      if (record.respondedWith === "pending") record.respondedWith = "aborted";
    });
    this.behave(req, res, record, this.take(record.path));
  }

  private behave(
    req: IncomingMessage,
    res: ServerResponse,
    record: ReceivedRequest,
    behaviour: ReceiverBehaviour,
  ): void {
    if (record.respondedWith !== "pending") return;
    if ("delayMs" in behaviour) {
      this.later(behaviour.delayMs, () => this.behave(req, res, record, behaviour.then));
      return;
    }
    if ("hang" in behaviour) {
      record.respondedWith = "hang";
      return;
    }
    if ("reset" in behaviour) {
      record.respondedWith = "reset";
      resetSocket(req.socket);
      return;
    }
    if ("down" in behaviour) {
      record.respondedWith = "down";
      resetSocket(req.socket);
      // Closing the listening handle is synchronous: the next connection is refused.
      const stopped = this.stop();
      const upAfterMs = behaviour.upAfterMs;
      if (upAfterMs !== undefined) {
        void stopped.then(() => {
          if (!this.closed) this.later(upAfterMs, () => void this.restart().catch(() => {}));
        });
      }
      return;
    }
    record.respondedWith = behaviour.status;
    void answer(res, behaviour);
  }
}

/** Starts a receiver on 127.0.0.1 with an ephemeral port. */
export function startWebhookReceiver(
  options: WebhookReceiverOptions = {},
): Promise<WebhookReceiver> {
  return WebhookReceiver.start(options);
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/** Undefined when `new Webhook(secret).verify` accepts the request, else its error message. */
function verify(request: ReceivedRequest, secret: string, signature?: string): string | undefined {
  const headers =
    signature === undefined
      ? request.headers
      : { ...request.headers, "webhook-signature": signature };
  try {
    // jsonParse off: whether the body is JSON is `json`'s business, not the signature's.
    new Webhook(secret).verify(request.rawBody, headers, { jsonParse: false });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function assertBehaviour(behaviour: ReceiverBehaviour): void {
  const b = behaviour as Record<string, unknown> | null;
  const ok =
    typeof b === "object" &&
    b !== null &&
    ((typeof b["status"] === "number" && b["status"] >= 100 && b["status"] <= 599) ||
      (typeof b["delayMs"] === "number" && b["delayMs"] >= 0 && typeof b["then"] === "object") ||
      b["hang"] === true ||
      b["reset"] === true ||
      b["down"] === true);
  if (!ok) throw new Error(`webhook receiver: not a behaviour: ${JSON.stringify(behaviour)}`);
  if (b !== null && "then" in b) assertBehaviour(b["then"] as ReceiverBehaviour);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function flattenHeaders(headers: IncomingMessage["headers"]): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined)
      flat[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return flat;
}

function parseJson(raw: string): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function resetSocket(socket: Socket): void {
  const s = socket as Socket & { resetAndDestroy?: () => Socket };
  if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
  else s.destroy();
}

async function answer(
  res: ServerResponse,
  behaviour: Extract<ReceiverBehaviour, { status: number }>,
): Promise<void> {
  const headers: OutgoingHttpHeaders = { ...(behaviour.headers ?? {}) };
  if (behaviour.bodyBytes !== undefined) {
    if (!behaviour.chunked) headers["content-length"] = String(behaviour.bodyBytes);
    headers["content-type"] ??= "application/octet-stream";
    res.writeHead(behaviour.status, headers);
    await streamBytes(res, behaviour.bodyBytes);
    return;
  }
  let body: Buffer = Buffer.alloc(0);
  if (typeof behaviour.body === "string") body = Buffer.from(behaviour.body);
  else if (Buffer.isBuffer(behaviour.body)) body = behaviour.body;
  else if (behaviour.body !== undefined) {
    body = Buffer.from(JSON.stringify(behaviour.body));
    headers["content-type"] ??= "application/json; charset=utf-8";
  }
  if (!behaviour.chunked) headers["content-length"] = String(body.length);
  res.writeHead(behaviour.status, headers);
  res.end(body);
}

async function streamBytes(res: ServerResponse, total: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, "x");
  let left = total;
  while (left > 0 && !res.destroyed) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    if (!res.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
    }
  }
  if (!res.destroyed) res.end();
}

function summarize(r: ReceivedRequest): string {
  const verified = r.verifiedBy.length > 0 ? "verified" : `not verified (${r.verifyError})`;
  return `  #${r.seq} ${r.method} ${r.url} -> ${r.respondedWith}, ${verified}`;
}
