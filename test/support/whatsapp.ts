import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import { expect } from "vitest";
import type { App } from "../../src/compose.ts";
import {
  buildWebhookRequest,
  WahaSimulator,
  type WahaEvent,
  type WahaSimulatorOptions,
} from "../simulators/waha-simulator.ts";
import { client } from "./http.ts";
import { createTestApp, type TestApp, type TestAppOptions } from "./test-app.ts";
import { waitFor } from "./wait-for.ts";

/**
 * Shared pieces of the WhatsApp end-to-end suites: an app listening on loopback (so the
 * WAHA simulator can post webhooks to it), the simulator pointed at it, channel creation
 * and activation, signed inbound posts through `inject`, and waits on durable processing.
 */

/** Our public base URL in these suites; never reachable, the simulator rewrites it. */
export const PUBLIC_BASE_URL = "https://ventros.example.test";

/** Settings every WhatsApp suite uses: loopback WAHA allowed, fast timeouts and retries. */
export const WHATSAPP_ENV: Record<string, string> = {
  PUBLIC_BASE_URL,
  OUTBOUND_ALLOW_CIDRS: "127.0.0.0/8,::1/128",
  WAHA_MIN_SEND_GAP_MS: "0",
  WAHA_TIMEOUT_MS: "1000",
  WAHA_HISTORY_TIMEOUT_MS: "2000",
  WAHA_RETRY_ATTEMPTS: "3",
  WAHA_RETRY_BASE_MS: "50",
  WAHA_RETRY_MAX_DELAY_MS: "3000",
  WAHA_BREAKER_MIN_REQUESTS: "3",
  WAHA_BREAKER_FAILURE_RATIO: "0.5",
  WAHA_BREAKER_WINDOW_MS: "30000",
  WAHA_BREAKER_HALF_OPEN_MS: "3000",
  JOBS_POLL_INTERVAL_SECONDS: "0.5",
};

export type Api = ReturnType<typeof client>;

export interface WhatsAppHarness {
  t: TestApp;
  app: App;
  api: Api;
  /** `http://127.0.0.1:<port>` where the app listens. */
  appUrl: string;
  /** Loopback simulators started through `simulator()`; all closed by `close()`. */
  simulators: WahaSimulator[];
  /** A WAHA simulator whose webhooks reach this app. */
  simulator(options?: WahaSimulatorOptions): Promise<WahaSimulator>;
  close(): Promise<void>;
}

/** A test app with the WhatsApp settings (plus `env`), listening on 127.0.0.1:0. */
export async function startWhatsApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<WhatsAppHarness> {
  const t = await createTestApp({ ...WHATSAPP_ENV, ...env }, options);
  await t.app.server.listen({ host: "127.0.0.1", port: 0 });
  const { port } = t.app.server.server.address() as AddressInfo;
  const appUrl = `http://127.0.0.1:${port}`;
  const simulators: WahaSimulator[] = [];
  return {
    t,
    app: t.app,
    api: client(t.app, t.adminKey),
    appUrl,
    simulators,
    async simulator(options: WahaSimulatorOptions = {}) {
      const waha = await WahaSimulator.start({
        // Our inbound URLs name PUBLIC_BASE_URL; deliver them to this app instead.
        rewriteWebhookUrl: (url) => {
          const parsed = new URL(url);
          return `${appUrl}${parsed.pathname}${parsed.search}`;
        },
        ...options,
      });
      simulators.push(waha);
      return waha;
    },
    async close() {
      await Promise.allSettled(simulators.map((s) => s.close()));
      await t.close();
    },
  };
}

export interface CreatedChannel {
  id: string;
  name: string;
  status: string;
  inboundUrl: string;
  inboundSecret: string;
  /** The path of `inboundUrl`, for `inject`. */
  inboundPath: string;
  waha: { baseUrl: string; session: string };
  sessionTimeoutMinutes: number | null;
  pipelineId: string | null;
  allowGroups: boolean;
}

let channelCounter = 0;

/** POST /v1/channels for a simulator session; asserts 201. */
export async function createChannel(
  api: Api,
  waha: WahaSimulator,
  session: string,
  extra: Record<string, unknown> = {},
): Promise<CreatedChannel> {
  const res = await api.post("/v1/channels", {
    name: `WhatsApp ${++channelCounter}`,
    type: "waha",
    waha: { baseUrl: waha.baseUrl, apiKey: waha.apiKey, session },
    ...extra,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { ...res.body, inboundPath: new URL(res.body.inboundUrl).pathname };
}

/** Activates a channel, waits for the simulator's status posts and their processing. */
export async function activateChannel(
  h: WhatsAppHarness,
  waha: WahaSimulator,
  channelId: string,
): Promise<void> {
  const res = await h.api.post(`/v1/channels/${channelId}/activate`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  await waha.settled(10_000);
  await inboundSettled(h.app);
  await waitFor(
    async () => (await h.api.get(`/v1/channels/${channelId}`)).body.status === "active",
    15_000,
    { what: `channel ${channelId} active` },
  );
}

export interface InboundAnswer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
}

/** Posts one WAHA event to our inbound route the way WAHA signs it (or as `options` says). */
export async function postInbound(
  app: App,
  path: string,
  event: unknown,
  options: { secret?: string | null; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<InboundAnswer> {
  const request = buildWebhookRequest(event, {
    hmacKey: options.secret ?? null,
    ...(options.rawBody === undefined ? {} : { rawBody: options.rawBody }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
  const res = await app.server.inject({
    method: "POST",
    url: path,
    headers: request.headers,
    payload: request.rawBody,
  });
  let body: unknown = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.statusCode, headers: res.headers, body };
}

/** Waits (bounded) until every stored inbound event has been processed by its job. */
export async function inboundSettled(app: App, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const pending = await app.deps.database.db
        .selectFrom("inbound_events")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("status", "=", "pending")
        .executeTakeFirstOrThrow();
      return Number(pending.n) === 0;
    },
    timeoutMs,
    { what: "inbound events processed" },
  );
}

/** Posts an event (signed with the channel's secret), expects 200 and waits for processing. */
export async function deliver(
  app: App,
  channel: CreatedChannel,
  event: WahaEvent | Record<string, unknown>,
): Promise<{ duplicate: boolean }> {
  const res = await postInbound(app, channel.inboundPath, event, { secret: channel.inboundSecret });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  await inboundSettled(app);
  return res.body as { duplicate: boolean };
}

/** The processing result of a stored event (by the WAHA event id). */
export async function inboundResult(app: App, eventId: string) {
  return app.deps.database.db
    .selectFrom("inbound_events")
    .select(["status", "result", "channel_id"])
    .where("external_id", "=", eventId)
    .executeTakeFirst();
}

/** The fixture files of ../shared/fixtures/waha, parsed. */
const FIXTURES = new URL("../../../shared/fixtures/waha/", import.meta.url);
/** The latest envelope time among the fixtures (seconds); fixtures are shifted from it. */
const FIXTURE_BASE_SECONDS = 1764072013;

/**
 * A fixture with its times moved so that its last event is `nowMs` (keeping the gaps
 * between fixtures): the samples are a year old, far past any session timeout.
 */
export function fixture(name: string, nowMs = Date.now()): WahaEvent<any> {
  const event = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")) as WahaEvent;
  const shift = Math.floor(nowMs / 1000) - FIXTURE_BASE_SECONDS;
  event.timestamp += shift * 1000;
  const payload = event.payload as Record<string, any>;
  if (typeof payload["timestamp"] === "number") payload["timestamp"] += shift;
  if (Array.isArray(payload["statuses"]))
    for (const s of payload["statuses"]) s.timestamp += shift * 1000;
  return event;
}

/** Rows of `outbox_events` (the domain events) for a project, optionally of some types. */
export async function outboxEvents(app: App, types?: string[]) {
  let query = app.deps.database.db
    .selectFrom("outbox_events")
    .select(["type", "aggregate_id", "data", "project_id"])
    .orderBy("seq");
  if (types) query = query.where("type", "in", types);
  return query.execute();
}

/** Jobs of a queue whose data names `key = value` (pg-boss's own table). */
export async function jobsFor(app: App, queue: string, key: string, value: string) {
  const { rows } = await sql<{ state: string; start_after: Date; created_on: Date }>`
    select state, start_after, created_on from pgboss.job
    where name = ${queue} and data ->> ${key} = ${value}
    order by created_on`.execute(app.deps.database.db);
  return rows;
}

let phoneCounter = 0;
/** A phone number (E.164 digits) unique within this process's suites. */
export function freshPhone(prefix = "55119"): string {
  return `${prefix}${String(process.pid % 1000).padStart(3, "0")}${String(++phoneCounter).padStart(5, "0")}`;
}
