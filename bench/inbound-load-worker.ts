import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "undici";
import { buildWebhookRequest, wahaEvents } from "../test/simulators/waha-events.ts";
import { measure, type LoadResult, type Operation } from "./load.ts";
import { runPaced } from "./pacer.ts";

/** What the main thread asks of this worker (see inbound-load.ts). */
export interface InboundLoadRequest {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `/v1/inbound/waha/<inboundId>` */
  path: string;
  /** The channel's HMAC key. */
  secret: string;
  /** "max": `concurrency` callers back to back; "paced": `ratePerSecond` on a schedule. */
  mode: "max" | "paced";
  /** Keep-alive connections (and, for "max", callers; for "paced", the in-flight cap). */
  concurrency: number;
  ratePerSecond: number;
  warmupMs: number;
  durationMs: number;
  /** Distinct senders; message n comes from sender n % contacts. */
  contacts: number;
}

export interface InboundLoadResult extends LoadResult {
  /** Events answered 200 `duplicate: false`, warm-up included: each must become a message. */
  accepted: number;
  /** Wall-clock ms (performance.timeOrigin based) of the first post and the last answer. */
  firstPostAt: number;
  lastAnswerAt: number;
  /** Paced only: scheduled posts that were never started (the in-flight cap was reached). */
  missed: number;
}

const request = workerData as InboundLoadRequest;
const epochMs = () => performance.timeOrigin + performance.now();
// One keep-alive connection per concurrent caller, no pipelining: what WAHA's sender does.
const pool = new Pool(request.origin, { connections: request.concurrency, pipelining: 1 });

let sequence = 0;
let accepted = 0;
let firstPostAt: number | undefined;
let lastAnswerAt = 0;

/** A signed `message` event from one of `contacts` senders; every message id is new. */
const post: Operation = async () => {
  const n = sequence++;
  const sender = n % request.contacts;
  const event = wahaEvents.text({
    event: "message",
    from: `55119${String(70_000_000 + sender)}@c.us`,
    pushName: `Bench Sender ${sender}`,
    messageId: `3EB0${n.toString(16).toUpperCase().padStart(16, "0")}`,
    body: `bench message ${n}`,
  });
  const { rawBody, headers } = buildWebhookRequest(event, { hmacKey: request.secret });
  firstPostAt ??= epochMs();
  const response = await pool.request({
    method: "POST",
    path: request.path,
    headers,
    body: rawBody,
  });
  const text = await response.body.text();
  lastAnswerAt = epochMs();
  if (response.statusCode !== 200) {
    throw new Error(`POST ${request.path} answered ${response.statusCode}: ${text.slice(0, 300)}`);
  }
  if ((JSON.parse(text) as { duplicate?: unknown }).duplicate !== false) {
    throw new Error(`a new event was not accepted as new: ${text.slice(0, 300)}`);
  }
  accepted += 1;
};

let result: LoadResult;
let missed = 0;
if (request.mode === "max") {
  result = await measure(post, request);
} else {
  const plan = { ratePerSecond: request.ratePerSecond, maxInFlight: request.concurrency };
  if (request.warmupMs > 0) await runPaced(post, { ...plan, durationMs: request.warmupMs });
  const paced = await runPaced(post, { ...plan, durationMs: request.durationMs });
  missed = paced.missed;
  result = paced;
}
await pool.close();
const answer: InboundLoadResult = {
  ...result,
  accepted,
  firstPostAt: firstPostAt ?? epochMs(),
  lastAnswerAt,
  missed,
};
parentPort?.postMessage(answer);
