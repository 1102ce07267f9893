import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wahaEvents, buildWebhookRequest } from "../simulators/waha-simulator.ts";
import { expectError } from "../support/api-assertions.ts";
import { metricValue } from "../support/cache-metrics.ts";
import type { JsonResponse } from "../support/http.ts";
import { createChannel, startWhatsApp, type WhatsAppHarness } from "../support/whatsapp.ts";

/**
 * Rate limits on the embedded backends (the memory limiter): per API key on API routes,
 * per client address on failed authentication and unauthenticated routes, per channel
 * and per address on inbound webhooks; the x-ratelimit headers, 429 with Retry-After;
 * probes and docs exempt. Each scenario uses its own loopback address.
 */

const PER_KEY = 8;
const PER_IP = 4;
const PER_CHANNEL = 3;
let h: WhatsAppHarness;

beforeAll(async () => {
  h = await startWhatsApp({
    RATE_LIMIT_PER_KEY_PER_MINUTE: String(PER_KEY),
    RATE_LIMIT_PER_IP_PER_MINUTE: String(PER_IP),
    RATE_LIMIT_PER_CHANNEL_PER_MINUTE: String(PER_CHANNEL),
  });
}, 120_000);
afterAll(async () => h?.close());

/** A request from `address` (a loopback address of its own per scenario). */
async function call(
  address: string,
  method: "GET" | "POST",
  url: string,
  options: { key?: string; headers?: Record<string, string>; payload?: string } = {},
): Promise<JsonResponse> {
  const res = await h.app.server.inject({
    method,
    url,
    remoteAddress: address,
    headers: {
      ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
      ...options.headers,
    },
    ...(options.payload === undefined ? {} : { payload: options.payload }),
  });
  let body: unknown = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON
  }
  return { status: res.statusCode, headers: res.headers, body };
}

const limitHeaders = (res: JsonResponse) => ({
  limit: Number(res.headers["x-ratelimit-limit"]),
  remaining: Number(res.headers["x-ratelimit-remaining"]),
  reset: Number(res.headers["x-ratelimit-reset"]),
});

function expectRateLimited(res: JsonResponse, scope: string, limit: number) {
  expectError(res, 429, "RATE_LIMITED");
  expect(res.body.error.details).toEqual({ scope, limit, windowSeconds: 60 });
  const retryAfter = Number(res.headers["retry-after"]);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(limitHeaders(res)).toEqual({ limit, remaining: 0, reset: retryAfter });
}

async function newKey() {
  const res = await h.api.post("/v1/api-keys", { name: "limited", role: "readonly" });
  expect(res.status).toBe(201);
  return res.body.key as string;
}

describe("per API key", () => {
  it("counts down in x-ratelimit-* and answers 429 with Retry-After past the limit", async () => {
    const key = await newKey();
    const other = await newKey();
    for (let i = 1; i <= PER_KEY; i++) {
      const res = await call("127.0.0.2", "GET", "/v1/project", { key });
      expect(res.status).toBe(200);
      const headers = limitHeaders(res);
      expect(headers).toMatchObject({ limit: PER_KEY, remaining: PER_KEY - i });
      expect(headers.reset).toBeGreaterThanOrEqual(1);
      expect(headers.reset).toBeLessThanOrEqual(60);
    }
    expectRateLimited(await call("127.0.0.2", "GET", "/v1/project", { key }), "api_key", PER_KEY);
    // Another key, from the same address, has its own budget.
    const res = await call("127.0.0.2", "GET", "/v1/project", { key: other });
    expect(res.status).toBe(200);
    expect(limitHeaders(res).remaining).toBe(PER_KEY - 1);
    expect(
      await metricValue(h.app, "ventros_rate_limit_decisions_total", {
        limiter: "api_key",
        outcome: "refused",
        store: "memory",
      }),
    ).toBe(1);
  });

  it("authenticated requests do not spend their address's budget", async () => {
    const key = await newKey();
    for (let i = 0; i < PER_IP + 2; i++)
      expect((await call("127.0.0.3", "GET", "/v1/project", { key })).status).toBe(200);
  });
});

describe("per client address", () => {
  it("failed authentications count against the address: 401s, then 429", async () => {
    for (let i = 1; i <= PER_IP; i++) {
      const res = await call("127.0.0.4", "GET", "/v1/contacts", { key: `vtr_wrong${i}` });
      expectError(res, 401, "UNAUTHORIZED");
      expect(limitHeaders(res).remaining).toBe(PER_IP - i);
    }
    expectRateLimited(
      await call("127.0.0.4", "GET", "/v1/contacts", { key: "vtr_wrong" }),
      "ip",
      PER_IP,
    );
    // A valid key from that address still works: it counts against the key.
    const key = await newKey();
    expect((await call("127.0.0.4", "GET", "/v1/project", { key })).status).toBe(200);
  });

  it("unknown paths count against the address too", async () => {
    for (let i = 0; i < PER_IP; i++)
      expectError(await call("127.0.0.5", "GET", "/v1/nothing-here"), 404, "ROUTE_NOT_FOUND");
    expectRateLimited(await call("127.0.0.5", "GET", "/v1/nothing-here"), "ip", PER_IP);
  });

  it("probes, metrics and docs are never limited and carry no rate-limit headers", async () => {
    for (let i = 0; i < PER_IP * 3; i++) {
      for (const url of ["/health/live", "/health/ready", "/metrics", "/openapi.json"]) {
        const res = await call("127.0.0.6", "GET", url);
        expect(res.status, url).toBe(200);
        expect(res.headers["x-ratelimit-limit"], url).toBeUndefined();
      }
    }
    expect([200, 302]).toContain((await call("127.0.0.6", "GET", "/docs")).status);
  });
});

describe("inbound webhooks", () => {
  /** An unsigned WAHA post: refused (401) after the limits have counted it. */
  const post = (address: string, path: string) => {
    const request = buildWebhookRequest(wahaEvents.text({ session: "limits" }), { hmacKey: null });
    return call(address, "POST", path, { headers: request.headers, payload: request.rawBody });
  };

  it("are limited per channel, whatever the sender's address", async () => {
    const waha = await h.simulator({ sessions: ["limits"] });
    const busy = await createChannel(h.api, waha, "limits");
    const quiet = await createChannel(h.api, waha, "limits");
    for (let i = 1; i <= PER_CHANNEL; i++) {
      const res = await post("127.0.0.7", busy.inboundPath);
      expect(res.status).toBe(401);
    }
    expectRateLimited(await post("127.0.0.7", busy.inboundPath), "channel", PER_CHANNEL);
    expectRateLimited(await post("127.0.0.8", busy.inboundPath), "channel", PER_CHANNEL);
    expect((await post("127.0.0.8", quiet.inboundPath)).status).toBe(401);
  });

  it("are limited per source address across channels", async () => {
    for (let i = 0; i < PER_IP; i++)
      expect((await post("127.0.0.9", `/v1/inbound/waha/unknown-${i}`)).status).toBe(404);
    expectRateLimited(await post("127.0.0.9", "/v1/inbound/waha/unknown-x"), "ip", PER_IP);
  });
});
