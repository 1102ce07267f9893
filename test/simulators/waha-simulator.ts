import { randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import {
  buildMessage,
  DEFAULT_ENVIRONMENT,
  DEFAULT_ME,
  extensionFor,
  isLoopbackHost,
  newMessageKeyId,
  parseMessageId,
  postEvent,
  vcardOf,
  wahaEvents,
  type WahaAckName,
  type WahaEnvironment,
  type WahaEvent,
  type WahaMe,
  type WahaMessage,
  type WahaMessageKind,
  type WahaReplyTo,
  type WahaSessionStatus,
} from "./waha-events.ts";

export * from "./waha-events.ts";

/**
 * A loopback WAHA (WhatsApp HTTP API) for tests: speaks WAHA's documented REST API for
 * one or more sessions, records every request, keeps chat history (including what was
 * sent through it), serves media, posts `session.status` (and any event you emit) to the
 * session's configured webhooks with WAHA's HMAC, and injects faults per route.
 *
 *   const waha = await WahaSimulator.start({ sessions: ["acme-main"] });
 *   waha.faults.error(500, { route: "sendText", times: 2 });
 *   // ... point the client at waha.baseUrl with waha.apiKey ...
 *   expect(waha.sent({ chatId: "5511987654321@c.us" })).toHaveLength(1);
 *   await waha.close();
 */

// ---------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------

export interface WahaWebhookConfig {
  url: string;
  events: string[];
  hmac?: { key?: string | null } | null;
  retries?: {
    policy?: "constant" | "linear" | "exponential";
    delaySeconds?: number;
    attempts?: number;
  } | null;
  customHeaders?: Array<{ name: string; value: string }> | null;
}

export interface WahaSessionConfig {
  webhooks?: WahaWebhookConfig[];
  metadata?: Record<string, string>;
  [key: string]: unknown;
}

/** A session as `GET /api/sessions/{session}` answers it. */
export interface WahaSessionInfo {
  name: string;
  status: WahaSessionStatus;
  config: WahaSessionConfig;
  me: WahaMe | null;
  engine: { engine: string };
}

export interface WahaSessionSeed {
  name: string;
  /** Initial status; `WORKING` by default. */
  status?: WahaSessionStatus;
  /** The paired account; the fixtures' account by default. */
  me?: WahaMe;
  /** Paired already (a start ends WORKING, not SCAN_QR_CODE). Default: status is not SCAN_QR_CODE. */
  authenticated?: boolean;
  config?: WahaSessionConfig;
  /** Raw QR value served by `GET /api/{session}/auth/qr?format=raw`. */
  qr?: string;
}

export interface WahaSimulatorOptions {
  /** The `X-Api-Key` every /api request must carry; `waha-test-key` by default. */
  apiKey?: string;
  /** Sessions present at start (names or seeds); `["default"]` WORKING by default. */
  sessions?: Array<WahaSessionSeed | string>;
  /** Clock in ms for message and event timestamps; `Date.now` by default. */
  now?: () => number;
  /** Delay between STARTING and the next status after a start; 0 by default. */
  transitionDelayMs?: number;
  /** Bound on each webhook post; 5 s by default. */
  webhookTimeoutMs?: number;
  /** Retry failed webhook posts per the webhook's `retries` config (like WAHA Plus); off by default. */
  webhookRetries?: boolean;
  /** Maps a configured webhook URL before posting (e.g. a public base URL to the test app). */
  rewriteWebhookUrl?: (url: string) => string;
  /** Also post `message.any` (source `api`) for messages sent through the API, as WAHA does. */
  echoSentMessages?: boolean;
  environment?: Partial<WahaEnvironment>;
  /** Request body limit; 64 MiB by default (413 beyond). */
  maxBodyBytes?: number;
}

export type WahaCallOutcome = "pending" | "answered" | "reset" | "hang" | "aborted";

export interface RecordedCall {
  seq: number;
  method: string;
  /** Decoded path without the query (`/api/acme/chats/5511...@c.us/messages`). */
  path: string;
  /** Raw request target, with the query. */
  url: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when there was none (or it was not JSON). */
  body: any;
  rawBody: string;
  /** Wall-clock ms when the request arrived. */
  time: number;
  /** The status answered (or, for apply-then-fail faults, the status that was withheld). */
  status?: number;
  outcome: WahaCallOutcome;
  /** Fault applied to this call, if any. */
  fault?: WahaFault["kind"];
}

export type WahaSendRoute =
  | "sendText"
  | "sendImage"
  | "sendFile"
  | "sendVoice"
  | "sendVideo"
  | "sendLocation"
  | "sendContactVcard";

export interface SentMessageRecord {
  route: WahaSendRoute;
  session: string;
  chatId: string;
  /** The request body as received. */
  request: any;
  /** The message as WAHA answered it (also in chat history). */
  message: WahaMessage;
  /** The call; `call.outcome` tells whether the client got the answer. */
  call: RecordedCall;
  time: number;
}

export interface SeenRecord {
  session: string;
  chatId: string;
  messageIds: string[];
  participant: string | null;
  call: RecordedCall;
}

export interface WebhookDelivery {
  session: string;
  url: string;
  event: string;
  eventId: string;
  requestId?: string;
  attempt: number;
  status?: number;
  error?: string;
  responseBody?: string;
  time: number;
}

/** A route: `"*"`, a path (`"/api/sendText"`), a send name (`"sendText"`),
 *  `"METHOD /path"`, or a RegExp tested against `"METHOD /path"`. */
export type WahaRoute = string | RegExp;

export type WahaFault =
  | { kind: "latency"; ms: number }
  | { kind: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: "rateLimit"; retryAfterSeconds: number }
  | { kind: "reset" }
  | { kind: "hang" }
  | { kind: "applyThenReset" }
  | { kind: "applyThenHang" };

export interface FaultOptions {
  route?: WahaRoute;
  /** How many matching requests it affects; 1 by default (latency: every one). */
  times?: number;
}

interface FaultEntry {
  fault: WahaFault;
  route: WahaRoute;
  remaining: number;
}

interface SessionState {
  name: string;
  status: WahaSessionStatus;
  authenticated: boolean;
  me: WahaMe;
  config: WahaSessionConfig;
  qr: string;
  statuses: Array<{ status: WahaSessionStatus; timestamp: number }>;
  chats: Map<string, ChatState>;
  /** Webhook posts of a session go out one event at a time, in order. */
  chain: Promise<unknown>;
}

interface ChatState {
  id: string;
  name: string | null;
  messages: WahaMessage[];
}

interface Reply {
  status: number;
  json?: unknown;
  buffer?: Buffer;
  headers?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

export function routeMatches(route: WahaRoute, method: string, path: string): boolean {
  if (route instanceof RegExp) {
    route.lastIndex = 0;
    return route.test(`${method} ${path}`);
  }
  if (route === "*") return true;
  const space = route.indexOf(" ");
  if (space > 0) {
    return (
      route.slice(0, space).toUpperCase() === method &&
      normalizeRoute(route.slice(space + 1)) === path
    );
  }
  return normalizeRoute(route) === path;
}

function normalizeRoute(route: string): string {
  return route.startsWith("/") ? route : `/api/${route}`;
}

/**
 * Programmable faults. Latency entries delay every matching request (the first matching
 * latency entry applies); the other faults form one queue consumed in insertion order:
 * a request takes the first entry whose route matches. Faults apply after authentication.
 */
export class WahaFaults {
  private entries: FaultEntry[] = [];

  add(fault: WahaFault, options: FaultOptions = {}): this {
    const times = options.times ?? (fault.kind === "latency" ? Infinity : 1);
    if (times > 0) this.entries.push({ fault, route: options.route ?? "*", remaining: times });
    return this;
  }

  /** Fixed delay before answering (or before another fault acts). */
  latency(ms: number, options: FaultOptions = {}): this {
    return this.add({ kind: "latency", ms }, options);
  }

  /** Answer `status` (500 by default) with a NestJS-style error body. */
  error(status = 500, options: FaultOptions & { body?: unknown } = {}): this {
    return this.add({ kind: "status", status, body: options.body }, options);
  }

  /** Answer 429 with `Retry-After: <seconds>`. */
  rateLimit(retryAfterSeconds: number, options: FaultOptions = {}): this {
    return this.add({ kind: "rateLimit", retryAfterSeconds }, options);
  }

  /** Reset the connection (TCP RST) without answering or applying. */
  reset(options: FaultOptions = {}): this {
    return this.add({ kind: "reset" }, options);
  }

  /** Accept the request and never answer (until the client gives up or `close()`). */
  hang(options: FaultOptions = {}): this {
    return this.add({ kind: "hang" }, options);
  }

  /** Perform the request (record, send, add to history), then reset the connection. */
  applyThenReset(options: FaultOptions = {}): this {
    return this.add({ kind: "applyThenReset" }, options);
  }

  /** Perform the request, then never answer. */
  applyThenHang(options: FaultOptions = {}): this {
    return this.add({ kind: "applyThenHang" }, options);
  }

  /** Removes every fault, or those registered with exactly this route. */
  clear(route?: WahaRoute): void {
    this.entries =
      route === undefined ? [] : this.entries.filter((e) => String(e.route) !== String(route));
  }

  pending(): Array<{ kind: WahaFault["kind"]; route: string; remaining: number }> {
    return this.entries.map((e) => ({
      kind: e.fault.kind,
      route: String(e.route),
      remaining: e.remaining,
    }));
  }

  /** @internal Consumes what applies to one request. */
  take(method: string, path: string): { latencyMs: number; fault?: WahaFault } {
    let latencyMs = 0;
    let fault: WahaFault | undefined;
    const latency = this.entries.find(
      (e) => e.fault.kind === "latency" && routeMatches(e.route, method, path),
    );
    if (latency && latency.fault.kind === "latency") {
      latencyMs = latency.fault.ms;
      latency.remaining -= 1;
    }
    const next = this.entries.find(
      (e) => e.fault.kind !== "latency" && routeMatches(e.route, method, path),
    );
    if (next) {
      fault = next.fault;
      next.remaining -= 1;
    }
    this.entries = this.entries.filter((e) => e.remaining > 0);
    return { latencyMs, fault };
  }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/** A 1x1 PNG served as the QR image. */
export const QR_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

const SEND_ROUTES: readonly WahaSendRoute[] = [
  "sendText",
  "sendImage",
  "sendFile",
  "sendVoice",
  "sendVideo",
  "sendLocation",
  "sendContactVcard",
];

const SESSION_STATUSES: readonly WahaSessionStatus[] = [
  "STOPPED",
  "STARTING",
  "SCAN_QR_CODE",
  "WORKING",
  "FAILED",
];

const nestError = (status: number, message: unknown, error: string): Reply => ({
  status,
  json: { statusCode: status, message, error },
});

const badRequest = (messages: string[]) => nestError(400, messages, "Bad Request");

const isObject = (value: unknown): value is Record<string, any> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const nonEmptyString = (value: unknown): value is string =>
  typeof value === "string" && value.length > 0;

/** A phone number alone (`5511...`) means the `@c.us` chat, as WAHA accepts it. */
export function normalizeChatId(chatId: string): string {
  return /^\+?\d+$/.test(chatId) ? `${chatId.replace(/^\+/, "")}@c.us` : chatId;
}

function decodePath(pathname: string): string {
  return pathname
    .split("/")
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    })
    .join("/");
}

const MIME_BY_EXTENSION: Record<string, string> = {
  jpeg: "image/jpeg",
  jpg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  mp4: "video/mp4",
  oga: "audio/ogg; codecs=opus",
  ogg: "audio/ogg",
  mp3: "audio/mpeg",
  pdf: "application/pdf",
  txt: "text/plain",
};

function mimeFromName(name: string): string {
  const ext = name.split(".").pop()?.toLowerCase() ?? "";
  return MIME_BY_EXTENSION[ext] ?? "application/octet-stream";
}

// ---------------------------------------------------------------------------------------
// Simulator
// ---------------------------------------------------------------------------------------

export class WahaSimulator {
  readonly apiKey: string;
  readonly faults = new WahaFaults();
  private readonly server: Server;
  private readonly options: WahaSimulatorOptions;
  private readonly seeds: WahaSessionSeed[];
  private readonly now: () => number;
  private readonly environment: WahaEnvironment;
  private sessions = new Map<string, SessionState>();
  private files = new Map<string, { content: Buffer; mimetype: string }>();
  private recorded: RecordedCall[] = [];
  private sentRecords: SentMessageRecord[] = [];
  private seenRecords: SeenRecord[] = [];
  private deliveryRecords: WebhookDelivery[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly closing = new AbortController();
  private pendingTransitions = 0;
  private seq = 0;
  private port = 0;
  private closed = false;

  private constructor(options: WahaSimulatorOptions) {
    this.options = options;
    this.apiKey = options.apiKey ?? "waha-test-key";
    this.now = options.now ?? Date.now;
    this.environment = { ...DEFAULT_ENVIRONMENT, ...(options.environment ?? {}) };
    this.seeds = (options.sessions ?? ["default"]).map((s) =>
      typeof s === "string" ? { name: s } : s,
    );
    for (const seed of this.seeds) this.sessions.set(seed.name, this.sessionFromSeed(seed));
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
  static async start(options: WahaSimulatorOptions = {}): Promise<WahaSimulator> {
    const simulator = new WahaSimulator(options);
    await new Promise<void>((resolve, reject) => {
      simulator.server.once("error", reject);
      simulator.server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = simulator.server.address();
    if (address === null || typeof address === "string")
      throw new Error("WAHA simulator has no port");
    simulator.port = address.port;
    return simulator;
  }

  /** `http://127.0.0.1:<port>` — the WAHA base URL to give the client. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // ----- sessions -------------------------------------------------------------------------

  private sessionFromSeed(seed: WahaSessionSeed): SessionState {
    const status = seed.status ?? "WORKING";
    return {
      name: seed.name,
      status,
      authenticated: seed.authenticated ?? status !== "SCAN_QR_CODE",
      me: { ...(seed.me ?? DEFAULT_ME) },
      config: normalizeConfig(seed.config ?? {}),
      qr:
        seed.qr ?? `2@${randomBytes(24).toString("base64")},${randomBytes(12).toString("base64")}`,
      statuses: [{ status, timestamp: this.now() }],
      chats: new Map(),
      chain: Promise.resolve(),
    };
  }

  /** Adds (or replaces) a session. */
  addSession(seed: WahaSessionSeed | string): void {
    const s = typeof seed === "string" ? { name: seed } : seed;
    this.sessions.set(s.name, this.sessionFromSeed(s));
  }

  /** The session as `GET /api/sessions/{session}` answers it. */
  session(name: string): WahaSessionInfo {
    const session = this.sessions.get(name);
    if (!session) throw new Error(`no simulated WAHA session ${name}`);
    return this.sessionInfo(session);
  }

  /** Changes a session's status and posts `session.status` to its webhooks. */
  setStatus(name: string, status: WahaSessionStatus): void {
    const session = this.sessions.get(name);
    if (!session) throw new Error(`no simulated WAHA session ${name}`);
    this.transition(session, status);
  }

  /** The phone scanned the QR: SCAN_QR_CODE -> WORKING (posts `session.status`). */
  scanQr(name: string): void {
    const session = this.sessions.get(name);
    if (!session) throw new Error(`no simulated WAHA session ${name}`);
    if (session.status !== "SCAN_QR_CODE") throw new Error(`${name} is ${session.status}`);
    session.authenticated = true;
    this.transition(session, "WORKING");
  }

  private sessionInfo(session: SessionState): WahaSessionInfo {
    return {
      name: session.name,
      status: session.status,
      config: structuredClone(session.config),
      me: session.status === "WORKING" ? { ...session.me } : null,
      engine: { engine: this.environment.engine },
    };
  }

  private transition(session: SessionState, status: WahaSessionStatus): void {
    session.status = status;
    session.statuses = [...session.statuses, { status, timestamp: this.now() }].slice(-3);
    const event = wahaEvents.sessionStatus({
      session: session.name,
      me: session.authenticated ? session.me : null,
      metadata: session.config.metadata ?? {},
      status,
      statuses: session.statuses,
      timestampMs: this.now(),
      environment: this.environment,
    });
    void this.deliver(session, event);
  }

  /** STOPPED/FAILED -> STARTING, then (after `transitionDelayMs`) WORKING or SCAN_QR_CODE. */
  private startSession(session: SessionState): void {
    if (session.status !== "STOPPED" && session.status !== "FAILED") return;
    this.transition(session, "STARTING");
    this.later(this.options.transitionDelayMs ?? 0, () => {
      if (session.status !== "STARTING" || this.sessions.get(session.name) !== session) return;
      this.transition(session, session.authenticated ? "WORKING" : "SCAN_QR_CODE");
    });
  }

  private stopSession(session: SessionState): void {
    if (session.status !== "STOPPED") this.transition(session, "STOPPED");
  }

  private restartSession(session: SessionState): void {
    this.stopSession(session);
    this.startSession(session);
  }

  // ----- media, history -------------------------------------------------------------------

  /** Serves `content` at `GET /api/files/{session}/{name}` (api key required); returns its URL. */
  setFile(session: string, name: string, content: Buffer | string, mimetype?: string): string {
    this.files.set(`${session}/${name}`, {
      content: Buffer.isBuffer(content) ? content : Buffer.from(content),
      mimetype: mimetype ?? mimeFromName(name),
    });
    return this.fileUrl(session, name);
  }

  fileUrl(session: string, name: string): string {
    return `${this.baseUrl}/api/files/${encodeURIComponent(session)}/${encodeURIComponent(name)}`;
  }

  /** Puts messages (WAHA format) into a chat's history, e.g. to test history imports. */
  addMessages(session: string, chatId: string, messages: WahaMessage[], name?: string): void {
    const state = this.sessions.get(session);
    if (!state) throw new Error(`no simulated WAHA session ${session}`);
    const chat = this.chat(state, chatId);
    if (name !== undefined) chat.name = name;
    for (const message of messages) this.appendMessage(chat, message);
  }

  /** The chat's messages, newest first, as `GET .../chats/{chatId}/messages` returns them. */
  history(session: string, chatId: string): WahaMessage[] {
    const state = this.sessions.get(session);
    const chat = state?.chats.get(normalizeChatId(chatId));
    return chat ? newestFirst(chat.messages) : [];
  }

  private chat(session: SessionState, chatId: string): ChatState {
    const id = normalizeChatId(chatId);
    let chat = session.chats.get(id);
    if (!chat) {
      chat = { id, name: null, messages: [] };
      session.chats.set(id, chat);
    }
    return chat;
  }

  private appendMessage(chat: ChatState, message: WahaMessage): void {
    const index = chat.messages.findIndex((m) => m.id === message.id);
    if (index >= 0) chat.messages[index] = message;
    else chat.messages.push(message);
  }

  // ----- events to webhooks ---------------------------------------------------------------

  /**
   * Posts `event` to every webhook of `event.session` subscribed to it (`events` has the
   * event name or `*`), signed with the webhook's HMAC key, with its custom headers; as
   * real WAHA, message events also land in the chat history and acks update it.
   */
  async emit(event: WahaEvent): Promise<WebhookDelivery[]> {
    const session = this.sessions.get(event.session);
    if (!session) throw new Error(`no simulated WAHA session ${event.session}`);
    this.absorb(session, event);
    return this.deliver(session, event);
  }

  /** Moves a stored message's ack and emits `message.ack` for it. */
  async ack(session: string, messageId: string, ack: WahaAckName): Promise<WebhookDelivery[]> {
    const state = this.sessions.get(session);
    if (!state) throw new Error(`no simulated WAHA session ${session}`);
    return this.emit(
      wahaEvents.ack({
        session,
        me: state.me,
        metadata: state.config.metadata ?? {},
        messageId,
        ack,
        timestampMs: this.now(),
        environment: this.environment,
      }),
    );
  }

  private absorb(session: SessionState, event: WahaEvent): void {
    const payload = event.payload as any;
    if ((event.event === "message" || event.event === "message.any") && isObject(payload)) {
      const message = payload as WahaMessage;
      const chatId = message.fromMe ? message.to : message.from;
      if (typeof chatId !== "string") return;
      const chat = this.chat(session, chatId);
      if (!message.fromMe && chat.name === null) {
        const pushName = (message._data?.Info as any)?.PushName;
        if (typeof pushName === "string" && !chatId.endsWith("@g.us")) chat.name = pushName;
      }
      this.appendMessage(chat, structuredClone(message));
    }
    if (event.event === "message.ack" && isObject(payload) && typeof payload.id === "string") {
      for (const chat of session.chats.values()) {
        const stored = chat.messages.find((m) => m.id === payload.id);
        if (stored && typeof payload.ack === "number") {
          stored.ack = payload.ack;
          stored.ackName = payload.ackName;
        }
      }
    }
  }

  private deliver(session: SessionState, event: WahaEvent): Promise<WebhookDelivery[]> {
    const webhooks = (session.config.webhooks ?? []).filter(
      (w) => Array.isArray(w.events) && (w.events.includes(event.event) || w.events.includes("*")),
    );
    const run = () =>
      Promise.all(webhooks.map((webhook) => this.deliverOne(session, webhook, event)));
    const all = session.chain.then(run, run);
    session.chain = all.catch(() => undefined);
    this.inflight.add(all);
    void all.finally(() => this.inflight.delete(all)).catch(() => undefined);
    return all;
  }

  private async deliverOne(
    session: SessionState,
    webhook: WahaWebhookConfig,
    event: WahaEvent,
  ): Promise<WebhookDelivery> {
    const url = this.options.rewriteWebhookUrl
      ? this.options.rewriteWebhookUrl(webhook.url)
      : webhook.url;
    const attempts = this.options.webhookRetries ? Math.max(1, webhook.retries?.attempts ?? 1) : 1;
    const headers = Object.fromEntries(
      (webhook.customHeaders ?? []).map((h) => [h.name, h.value] as const),
    );
    let record: WebhookDelivery | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      record = {
        session: session.name,
        url,
        event: event.event,
        eventId: event.id,
        attempt,
        time: this.now(),
      };
      this.deliveryRecords.push(record);
      let host: string;
      try {
        host = new URL(url).hostname;
      } catch {
        record.error = `invalid webhook url ${url}`;
        return record;
      }
      if (!isLoopbackHost(host)) {
        record.error = `refused: ${host} is not a loopback address (use rewriteWebhookUrl)`;
        return record;
      }
      if (this.closed) {
        record.error = "simulator closed";
        return record;
      }
      try {
        const result = await postEvent(url, event, {
          hmacKey: webhook.hmac?.key ?? null,
          headers,
          timeoutMs: this.options.webhookTimeoutMs ?? 5_000,
          signal: this.closing.signal,
        });
        record.status = result.status;
        record.requestId = result.requestId;
        record.responseBody = result.body.slice(0, 2_000);
        if (result.status >= 200 && result.status < 300) return record;
      } catch (error) {
        record.error = (error as Error).message;
      }
      if (attempt < attempts) {
        const base = (webhook.retries?.delaySeconds ?? 2) * 1000;
        const policy = webhook.retries?.policy ?? "constant";
        const delay =
          policy === "linear"
            ? base * attempt
            : policy === "exponential"
              ? base * 2 ** (attempt - 1)
              : base;
        const waited = await this.sleep(delay);
        if (!waited) return record;
      }
    }
    return record!;
  }

  /** Waits (bounded) until no webhook post or scheduled status change is pending. */
  async settled(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inflight.size > 0 || this.pendingTransitions > 0) {
      if (Date.now() >= deadline)
        throw new Error(
          `WAHA simulator not settled after ${timeoutMs} ms (${this.inflight.size} posts, ${this.pendingTransitions} status changes pending)`,
        );
      // Always yield to the event loop: scheduled status changes are timers.
      const tick = new Promise((resolve) => setTimeout(resolve, 5));
      const posts =
        this.inflight.size > 0
          ? Promise.allSettled([...this.inflight]).then(
              () => new Promise((resolve) => setImmediate(resolve)),
            )
          : tick;
      await Promise.race([tick, posts]);
    }
  }

  private later(ms: number, action: () => void): void {
    this.pendingTransitions++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.pendingTransitions--;
      action();
    }, ms);
    this.timers.add(timer);
  }

  /** Resolves true after `ms`, or false if the simulator closes first. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.closed) return resolve(false);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.closing.signal.removeEventListener("abort", onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        resolve(false);
      };
      this.timers.add(timer);
      this.closing.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  // ----- recording ------------------------------------------------------------------------

  /** Recorded requests, optionally only those matching `route` (see `WahaRoute`). */
  calls(route?: WahaRoute | { method?: string; path?: string | RegExp }): RecordedCall[] {
    if (route === undefined) return [...this.recorded];
    if (typeof route === "string" || route instanceof RegExp) {
      return this.recorded.filter((c) => routeMatches(route, c.method, c.path));
    }
    return this.recorded.filter(
      (c) =>
        (route.method === undefined || c.method === route.method.toUpperCase()) &&
        (route.path === undefined ||
          (route.path instanceof RegExp
            ? route.path.test(c.path)
            : normalizeRoute(route.path) === c.path)),
    );
  }

  lastCall(route?: WahaRoute): RecordedCall | undefined {
    return this.calls(route).at(-1);
  }

  /** Messages accepted by the send routes (including those whose answer was lost). */
  sent(
    filter: { session?: string; chatId?: string; route?: WahaSendRoute } = {},
  ): SentMessageRecord[] {
    return this.sentRecords.filter(
      (r) =>
        (filter.session === undefined || r.session === filter.session) &&
        (filter.chatId === undefined || r.chatId === normalizeChatId(filter.chatId)) &&
        (filter.route === undefined || r.route === filter.route),
    );
  }

  /** `POST /api/sendSeen` requests accepted. */
  seen(): SeenRecord[] {
    return [...this.seenRecords];
  }

  /** Webhook posts made (session.status on start/stop, `emit`, `ack`), one per attempt. */
  deliveries(filter: { event?: string; session?: string } = {}): WebhookDelivery[] {
    return this.deliveryRecords.filter(
      (d) =>
        (filter.event === undefined || d.event === filter.event) &&
        (filter.session === undefined || d.session === filter.session),
    );
  }

  /**
   * Forgets recorded calls, sends, seens, deliveries, faults, files and chat history, and
   * puts the sessions back to their seeds. Requests hanging right now stay open.
   */
  reset(): void {
    this.recorded = [];
    this.sentRecords = [];
    this.seenRecords = [];
    this.deliveryRecords = [];
    this.files.clear();
    this.faults.clear();
    this.sessions = new Map(this.seeds.map((seed) => [seed.name, this.sessionFromSeed(seed)]));
  }

  /** Stops listening, destroys every socket (hanging ones included), cancels timers and posts. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.pendingTransitions = 0;
    const closedServer = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await closedServer;
    await Promise.allSettled([...this.inflight]);
  }

  // ----- HTTP -----------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = (req.method ?? "GET").toUpperCase();
    const call: RecordedCall = {
      seq: ++this.seq,
      method,
      path: decodePath(url.pathname),
      url: req.url ?? "/",
      query: Object.fromEntries(url.searchParams.entries()),
      headers: req.headers,
      body: undefined,
      rawBody: "",
      time: Date.now(),
      outcome: "pending",
    };
    this.recorded.push(call);
    // The client gave up (timeout, abort) before an answer was written.
    res.on("close", () => {
      if (call.outcome === "pending" && !res.writableFinished) call.outcome = "aborted";
    });

    let raw: Buffer;
    try {
      raw = await this.readBody(req);
    } catch {
      return this.answer(req, res, call, nestError(413, "Payload Too Large", "Payload Too Large"));
    }
    call.rawBody = raw.toString("utf8");
    if (call.rawBody.length > 0) {
      try {
        call.body = JSON.parse(call.rawBody);
      } catch (error) {
        const json = String(req.headers["content-type"] ?? "").includes("json");
        if (json) return this.answer(req, res, call, badRequest([(error as Error).message]));
      }
    }

    if (call.path === "/ping")
      return this.answer(req, res, call, { status: 200, json: { message: "pong" } });
    if (call.path.startsWith("/api/") || call.path === "/api") {
      const key = req.headers["x-api-key"] ?? url.searchParams.get("x-api-key") ?? undefined;
      if (key !== this.apiKey) {
        return this.answer(req, res, call, {
          status: 401,
          json: { message: "Unauthorized", statusCode: 401 },
        });
      }
    }

    const { latencyMs, fault } = this.faults.take(method, call.path);
    if (latencyMs > 0) {
      call.fault = "latency";
      const waited = await this.sleep(latencyMs);
      if (!waited) return;
    }
    if (fault) call.fault = fault.kind;
    switch (fault?.kind) {
      case "status":
        return this.answer(req, res, call, {
          status: fault.status,
          json: fault.body ?? {
            statusCode: fault.status,
            message: `Simulated WAHA failure (${fault.status})`,
            error: fault.status >= 500 ? "Internal Server Error" : "Error",
          },
          headers: fault.headers,
        });
      case "rateLimit":
        return this.answer(req, res, call, {
          status: 429,
          json: { statusCode: 429, message: "ThrottlerException: Too Many Requests" },
          headers: { "retry-after": String(fault.retryAfterSeconds) },
        });
      case "reset":
        call.outcome = "reset";
        return this.resetConnection(req);
      case "hang":
        call.outcome = "hang";
        return;
      default:
        break;
    }

    let reply: Reply;
    try {
      reply = this.route(method, call);
    } catch (error) {
      reply = nestError(500, (error as Error).message, "Internal Server Error");
    }
    if (fault?.kind === "applyThenReset") {
      call.status = reply.status;
      call.outcome = "reset";
      return this.resetConnection(req);
    }
    if (fault?.kind === "applyThenHang") {
      call.status = reply.status;
      call.outcome = "hang";
      return;
    }
    return this.answer(req, res, call, reply);
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.options.maxBodyBytes ?? 64 * 1024 * 1024;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          reject(new Error("too large"));
          req.removeAllListeners("data");
          req.resume();
          return;
        }
        chunks.push(chunk);
      });
      req.on("end", () => resolve(Buffer.concat(chunks)));
      req.on("error", reject);
    });
  }

  private resetConnection(req: IncomingMessage): void {
    const socket = req.socket as Socket & { resetAndDestroy?: () => Socket };
    if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
    else socket.destroy();
  }

  private answer(
    req: IncomingMessage,
    res: ServerResponse,
    call: RecordedCall,
    reply: Reply,
  ): void {
    call.status = reply.status;
    if (res.destroyed || req.socket.destroyed) {
      call.outcome = "aborted";
      return;
    }
    call.outcome = "answered";
    const body =
      reply.buffer ??
      (reply.json === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(reply.json)));
    res.writeHead(reply.status, {
      ...(reply.buffer ? {} : { "content-type": "application/json; charset=utf-8" }),
      "content-length": String(body.length),
      ...(reply.headers ?? {}),
    });
    res.end(body);
  }

  private route(method: string, call: RecordedCall): Reply {
    const path = call.path;
    const parts = path.split("/").filter((p) => p.length > 0);
    const body = call.body;

    // /api/sendText ... /api/sendSeen
    if (method === "POST" && parts.length === 2 && parts[0] === "api") {
      const name = parts[1]!;
      if ((SEND_ROUTES as readonly string[]).includes(name))
        return this.send(name as WahaSendRoute, call);
      if (name === "sendSeen") return this.sendSeen(call);
    }

    // /api/sessions...
    if (parts[0] === "api" && parts[1] === "sessions") {
      if (parts.length === 2) {
        if (method === "GET") {
          const all = call.query["all"] === "true" || call.query["all"] === "True";
          return {
            status: 200,
            json: [...this.sessions.values()]
              .filter((s) => all || s.status !== "STOPPED")
              .map((s) => this.sessionInfo(s)),
          };
        }
        if (method === "POST") return this.createSession(body);
      }
      if (
        parts.length === 3 &&
        method === "POST" &&
        ["start", "stop", "logout"].includes(parts[2]!)
      ) {
        return this.legacySessionAction(parts[2]!, body);
      }
      const name = parts[2];
      if (name !== undefined) {
        const session = this.sessions.get(name);
        if (parts.length === 3) {
          if (method === "GET")
            return session
              ? { status: 200, json: this.sessionInfo(session) }
              : sessionNotFound(name);
          if (method === "PUT")
            return session ? this.updateSession(session, body) : sessionNotFound(name);
          if (method === "DELETE") {
            if (session) {
              this.stopSession(session);
              this.sessions.delete(name);
            }
            return { status: 200, json: {} };
          }
        }
        if (parts.length === 4) {
          if (!session) return sessionNotFound(name);
          const action = parts[3];
          if (method === "GET" && action === "me") {
            return { status: 200, json: session.status === "WORKING" ? { ...session.me } : null };
          }
          if (method === "POST" && action === "start") {
            this.startSession(session);
            return { status: 201, json: this.sessionInfo(session) };
          }
          if (method === "POST" && action === "stop") {
            this.stopSession(session);
            return { status: 201, json: this.sessionInfo(session) };
          }
          if (method === "POST" && action === "restart") {
            this.restartSession(session);
            return { status: 201, json: this.sessionInfo(session) };
          }
          if (method === "POST" && action === "logout") {
            session.authenticated = false;
            if (session.status !== "STOPPED") this.restartSession(session);
            return { status: 201, json: this.sessionInfo(session) };
          }
        }
      }
    }

    // /api/files/{session}/{name} and /api/files/{name}
    if (method === "GET" && parts[0] === "api" && parts[1] === "files" && parts.length >= 3) {
      const key =
        parts.length === 3
          ? [...this.files.keys()].find((k) => k.endsWith(`/${parts[2]}`))
          : parts.slice(2).join("/");
      const file = key === undefined ? undefined : this.files.get(key);
      if (!file) return nestError(404, "File not found", "Not Found");
      return { status: 200, buffer: file.content, headers: { "content-type": file.mimetype } };
    }

    // /api/{session}/auth/qr, /api/{session}/auth/request-code
    if (parts[0] === "api" && parts[2] === "auth" && parts.length === 4) {
      const session = this.sessions.get(parts[1]!);
      if (!session) return sessionNotFound(parts[1]!);
      if (method === "GET" && parts[3] === "qr") return this.qr(session, call);
      if (method === "POST" && parts[3] === "request-code") {
        if (session.status !== "SCAN_QR_CODE") return statusNotExpected(session, ["SCAN_QR_CODE"]);
        return { status: 201, json: { code: "ABCD-EFGH" } };
      }
    }

    // /api/{session}/chats, /api/{session}/chats/{chatId}/messages[/{messageId}]
    if (method === "GET" && parts[0] === "api" && parts[2] === "chats") {
      const session = this.sessions.get(parts[1]!);
      if (!session) return sessionNotFound(parts[1]!);
      if (session.status !== "WORKING") return statusNotExpected(session, ["WORKING"]);
      if (parts.length === 3) return this.listChats(session, call);
      if (parts.length === 5 && parts[4] === "messages")
        return this.listMessages(session, parts[3]!, call);
      if (parts.length === 6 && parts[4] === "messages") {
        const chat = session.chats.get(normalizeChatId(parts[3]!));
        const message = chat?.messages.find((m) => m.id === parts[5]);
        return message
          ? { status: 200, json: message }
          : nestError(404, "Message not found", "Not Found");
      }
    }

    return nestError(404, `Cannot ${method} ${path}`, "Not Found");
  }

  private createSession(body: unknown): Reply {
    const request = isObject(body) ? body : {};
    const name = nonEmptyString(request["name"])
      ? request["name"]
      : `session_${randomBytes(6).toString("hex")}`;
    if (this.sessions.has(name)) {
      return nestError(
        422,
        `Session '${name}' already exists. Use PUT to update it.`,
        "Unprocessable Entity",
      );
    }
    const session = this.sessionFromSeed({
      name,
      status: "STOPPED",
      authenticated: false,
      config: isObject(request["config"]) ? (request["config"] as WahaSessionConfig) : {},
    });
    this.sessions.set(name, session);
    if (request["start"] !== false) this.startSession(session);
    return { status: 201, json: this.sessionInfo(session) };
  }

  /** Deprecated `POST /api/sessions/{start|stop|logout}` with `{name, config?, logout?}`. */
  private legacySessionAction(action: string, body: unknown): Reply {
    const request = isObject(body) ? body : {};
    const name = nonEmptyString(request["name"]) ? request["name"] : "default";
    let session = this.sessions.get(name);
    if (action === "start") {
      if (!session) {
        session = this.sessionFromSeed({ name, status: "STOPPED", authenticated: false });
        this.sessions.set(name, session);
      }
      if (isObject(request["config"])) session.config = normalizeConfig(request["config"]);
      this.startSession(session);
      return { status: 201, json: this.sessionInfo(session) };
    }
    if (!session) return sessionNotFound(name);
    this.stopSession(session);
    if (action === "logout" || request["logout"] === true) {
      this.sessions.delete(name);
    }
    return { status: 201, json: this.sessionInfo(session) };
  }

  /** `PUT /api/sessions/{session}`: full config replacement; a running session restarts. */
  private updateSession(session: SessionState, body: unknown): Reply {
    if (!isObject(body)) return badRequest(["body must be an object"]);
    const config = body["config"];
    if (config !== undefined && config !== null && !isObject(config))
      return badRequest(["config must be an object"]);
    const errors = validateWebhooks(isObject(config) ? config["webhooks"] : undefined);
    if (errors.length > 0) return badRequest(errors);
    session.config = normalizeConfig(isObject(config) ? config : {});
    if (session.status !== "STOPPED") this.restartSession(session);
    return { status: 200, json: this.sessionInfo(session) };
  }

  private qr(session: SessionState, call: RecordedCall): Reply {
    if (session.status !== "SCAN_QR_CODE") {
      return nestError(
        422,
        `Can get QR code only in SCAN_QR_CODE status. The current status is '${session.status}'`,
        "Unprocessable Entity",
      );
    }
    if (call.query["format"] === "raw") return { status: 200, json: { value: session.qr } };
    if (String(call.headers["accept"] ?? "").includes("application/json")) {
      return { status: 200, json: { mimetype: "image/png", data: QR_PNG.toString("base64") } };
    }
    return { status: 200, buffer: QR_PNG, headers: { "content-type": "image/png" } };
  }

  private listChats(session: SessionState, call: RecordedCall): Reply {
    const chats = [...session.chats.values()].map((chat) => ({
      id: chat.id,
      name: chat.name,
      conversationTimestamp: chat.messages.reduce((max, m) => Math.max(max, m.timestamp), 0),
    }));
    chats.sort((a, b) => b.conversationTimestamp - a.conversationTimestamp);
    return { status: 200, json: paginate(chats, call.query) };
  }

  private listMessages(session: SessionState, chatId: string, call: RecordedCall): Reply {
    const chat = session.chats.get(normalizeChatId(chatId));
    let messages = chat ? newestFirst(chat.messages) : [];
    const q = call.query;
    if (q["filter.fromMe"] !== undefined)
      messages = messages.filter((m) => String(m.fromMe) === q["filter.fromMe"]);
    if (q["filter.timestamp.gte"] !== undefined)
      messages = messages.filter((m) => m.timestamp >= Number(q["filter.timestamp.gte"]));
    if (q["filter.timestamp.lte"] !== undefined)
      messages = messages.filter((m) => m.timestamp <= Number(q["filter.timestamp.lte"]));
    if (q["filter.ack"] !== undefined)
      messages = messages.filter((m) => m.ackName === q["filter.ack"]);
    const page = paginate(messages, q);
    // downloadMedia=false: WAHA leaves `media` out of the answer (hasMedia stays).
    const withMedia = q["downloadMedia"] !== "false";
    return {
      status: 200,
      json: page.map((m) => (withMedia || !m.hasMedia ? m : { ...m, media: null })),
    };
  }

  // ----- sending --------------------------------------------------------------------------

  private sessionForSend(body: Record<string, any>): SessionState | Reply {
    const name = nonEmptyString(body["session"]) ? body["session"] : "default";
    const session = this.sessions.get(name);
    if (!session) return sessionNotFound(name);
    if (session.status !== "WORKING") return statusNotExpected(session, ["WORKING"]);
    return session;
  }

  private sendSeen(call: RecordedCall): Reply {
    const body = call.body;
    if (!isObject(body))
      return badRequest(["chatId must be a string", "chatId should not be empty"]);
    const errors: string[] = [];
    if (!nonEmptyString(body["chatId"]))
      errors.push("chatId must be a string", "chatId should not be empty");
    const ids = body["messageIds"] ?? (body["messageId"] === undefined ? [] : [body["messageId"]]);
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string"))
      errors.push("messageIds must be an array of strings");
    if (errors.length > 0) return badRequest(errors);
    const session = this.sessionForSend(body);
    if (!("chats" in session)) return session;
    const chatId = normalizeChatId(body["chatId"]);
    this.seenRecords.push({
      session: session.name,
      chatId,
      messageIds: ids as string[],
      participant: typeof body["participant"] === "string" ? body["participant"] : null,
      call,
    });
    return { status: 201, json: {} };
  }

  private send(route: WahaSendRoute, call: RecordedCall): Reply {
    const body = call.body;
    if (!isObject(body))
      return badRequest(["chatId must be a string", "chatId should not be empty"]);
    const errors = validateSend(route, body);
    if (errors.length > 0) return badRequest(errors);
    const session = this.sessionForSend(body);
    if (!("chats" in session)) return session;

    const chatId = normalizeChatId(body["chatId"]);
    const chat = this.chat(session, chatId);
    const keyId = newMessageKeyId();
    const replyTo = this.replyTarget(chat, body["reply_to"]);
    const kind = sendKind(route);
    const file = isObject(body["file"]) ? body["file"] : undefined;
    let media: { url: string; mimetype: string; filename: string | null } | undefined;
    if (file) {
      const mimetype: string = file["mimetype"];
      const name = `${keyId}.${extensionFor(mimetype)}`;
      const content = nonEmptyString(file["data"])
        ? Buffer.from(file["data"], "base64")
        : Buffer.from(`simulated media fetched from ${String(file["url"])}`);
      this.setFile(session.name, name, content, mimetype);
      media = {
        url: this.fileUrl(session.name, name),
        mimetype,
        filename: nonEmptyString(file["filename"]) ? file["filename"] : null,
      };
    }
    const contacts: Array<{ displayName: string; vcard: string }> = Array.isArray(body["contacts"])
      ? body["contacts"].map((c: Record<string, any>) =>
          nonEmptyString(c["vcard"])
            ? { displayName: /FN:(.*)/.exec(c["vcard"])?.[1] ?? "", vcard: c["vcard"] }
            : {
                displayName: c["fullName"],
                vcard: vcardOf({
                  fullName: c["fullName"],
                  phoneNumber: c["phoneNumber"],
                  whatsappId: c["whatsappId"],
                  organization: c["organization"],
                }),
              },
        )
      : [];
    const text =
      route === "sendText"
        ? body["text"]
        : nonEmptyString(body["caption"])
          ? body["caption"]
          : route === "sendFile"
            ? (media?.filename ?? "")
            : "";
    const message = buildMessage({
      kind,
      chatId,
      fromMe: true,
      me: session.me,
      session: session.name,
      keyId,
      timestamp: Math.floor(this.now() / 1000),
      source: "api",
      ack: "SERVER",
      body: text,
      replyTo,
      mentions: Array.isArray(body["mentions"]) ? body["mentions"] : undefined,
      media: media && { url: media.url, mimetype: media.mimetype, filename: media.filename },
      location:
        route === "sendLocation"
          ? {
              latitude: body["latitude"],
              longitude: body["longitude"],
              name: typeof body["title"] === "string" ? body["title"] : null,
            }
          : undefined,
      vcards: route === "sendContactVcard" ? contacts : undefined,
    });
    this.appendMessage(chat, message);
    this.sentRecords.push({
      route,
      session: session.name,
      chatId,
      request: body,
      message,
      call,
      time: this.now(),
    });
    if (this.options.echoSentMessages) {
      const event = {
        ...wahaEvents.text({ session: session.name, me: session.me, timestampMs: this.now() }),
        payload: structuredClone(message),
      };
      void this.deliver(session, event);
    }
    return { status: 201, json: structuredClone(message) };
  }

  private replyTarget(chat: ChatState, replyTo: unknown): WahaReplyTo | null {
    if (!nonEmptyString(replyTo)) return null;
    const quoted = chat.messages.find((m) => m.id === replyTo);
    const parsed = parseMessageId(replyTo);
    return {
      id: replyTo,
      participant: quoted
        ? quoted.fromMe
          ? quoted.from
          : (quoted.participant ?? quoted.from)
        : parsed.participant,
      body: quoted?.body ?? null,
    };
  }
}

// ---------------------------------------------------------------------------------------
// Validation and small helpers
// ---------------------------------------------------------------------------------------

function sessionNotFound(name: string): Reply {
  return nestError(
    404,
    `We didn't find a session with name '${name}'.\nPlease start it first by using POST /api/sessions/${name}/start request`,
    "Not Found",
  );
}

function statusNotExpected(session: SessionState, expected: WahaSessionStatus[]): Reply {
  return {
    status: 422,
    json: {
      error: "Session status is not as expected. Try again later or restart the session",
      session: session.name,
      status: session.status,
      expected,
    },
  };
}

function sendKind(route: WahaSendRoute): WahaMessageKind {
  switch (route) {
    case "sendText":
      return "text";
    case "sendImage":
      return "image";
    case "sendFile":
      return "document";
    case "sendVoice":
      return "voice";
    case "sendVideo":
      return "video";
    case "sendLocation":
      return "location";
    case "sendContactVcard":
      return "vcard";
  }
}

function validateSend(route: WahaSendRoute, body: Record<string, any>): string[] {
  const errors: string[] = [];
  if (!nonEmptyString(body["chatId"]))
    errors.push("chatId must be a string", "chatId should not be empty");
  if (body["session"] !== undefined && typeof body["session"] !== "string")
    errors.push("session must be a string");
  if (
    body["reply_to"] !== undefined &&
    body["reply_to"] !== null &&
    typeof body["reply_to"] !== "string"
  ) {
    errors.push("reply_to must be a string");
  }
  switch (route) {
    case "sendText":
      if (typeof body["text"] !== "string") errors.push("text must be a string");
      break;
    case "sendImage":
    case "sendFile":
    case "sendVoice":
    case "sendVideo": {
      const file = body["file"];
      if (!isObject(file)) {
        errors.push("file should not be empty");
        break;
      }
      if (!nonEmptyString(file["mimetype"])) errors.push("file.mimetype must be a string");
      const hasUrl = nonEmptyString(file["url"]);
      const hasData = nonEmptyString(file["data"]);
      if (hasUrl === hasData) errors.push("file must have exactly one of url or data");
      if (hasUrl && !/^https?:\/\//i.test(file["url"]))
        errors.push("file.url must be a URL address");
      if (
        body["caption"] !== undefined &&
        body["caption"] !== null &&
        typeof body["caption"] !== "string"
      ) {
        errors.push("caption must be a string");
      }
      break;
    }
    case "sendLocation":
      for (const field of ["latitude", "longitude"]) {
        if (typeof body[field] !== "number" || !Number.isFinite(body[field])) {
          errors.push(`${field} must be a number conforming to the specified constraints`);
        }
      }
      if (body["title"] !== undefined && typeof body["title"] !== "string")
        errors.push("title must be a string");
      break;
    case "sendContactVcard": {
      const contacts = body["contacts"];
      if (!Array.isArray(contacts) || contacts.length === 0) {
        errors.push("contacts should not be empty");
        break;
      }
      contacts.forEach((c: unknown, i: number) => {
        if (!isObject(c)) errors.push(`contacts.${i} must be an object`);
        else if (
          !nonEmptyString(c["vcard"]) &&
          !(nonEmptyString(c["fullName"]) && nonEmptyString(c["phoneNumber"]))
        ) {
          errors.push(`contacts.${i} must have vcard, or fullName and phoneNumber`);
        }
      });
      break;
    }
  }
  return errors;
}

function validateWebhooks(webhooks: unknown): string[] {
  if (webhooks === undefined || webhooks === null) return [];
  if (!Array.isArray(webhooks)) return ["config.webhooks must be an array"];
  const errors: string[] = [];
  webhooks.forEach((w: unknown, i: number) => {
    if (!isObject(w)) return errors.push(`config.webhooks.${i} must be an object`);
    if (!nonEmptyString(w["url"])) errors.push(`config.webhooks.${i}.url must be a URL address`);
    if (!Array.isArray(w["events"])) errors.push(`config.webhooks.${i}.events must be an array`);
    const policy = isObject(w["retries"]) ? w["retries"]["policy"] : undefined;
    if (policy !== undefined && !["constant", "linear", "exponential"].includes(policy)) {
      errors.push(
        `config.webhooks.${i}.retries.policy must be one of: linear, exponential, constant`,
      );
    }
    return undefined;
  });
  return errors;
}

/** Fills the webhook fields WAHA answers as `null` when they were not given. */
function normalizeConfig(config: WahaSessionConfig): WahaSessionConfig {
  const copy = structuredClone(config);
  if (Array.isArray(copy.webhooks)) {
    copy.webhooks = copy.webhooks.map((w) => ({
      ...w,
      hmac: w.hmac ?? null,
      retries: w.retries ?? null,
      customHeaders: w.customHeaders ?? null,
    }));
  }
  return copy;
}

function newestFirst(messages: WahaMessage[]): WahaMessage[] {
  return messages
    .map((message, index) => ({ message, index }))
    .sort((a, b) => b.message.timestamp - a.message.timestamp || b.index - a.index)
    .map(({ message }) => structuredClone(message));
}

function paginate<T>(items: T[], query: Record<string, string>): T[] {
  const offset = Math.max(0, Number.parseInt(query["offset"] ?? "0", 10) || 0);
  const limit =
    query["limit"] === undefined
      ? items.length
      : Math.max(0, Number.parseInt(query["limit"], 10) || 0);
  return items.slice(offset, offset + limit);
}

export const WAHA_SESSION_STATUSES = SESSION_STATUSES;
export const WAHA_SEND_ROUTES = SEND_ROUTES;
