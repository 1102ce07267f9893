import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HttpClient } from "../../src/platform/http-client/http-client.ts";
import { createIntegrationPolicy } from "../../src/platform/resilience/integration-policy.ts";
import type { IntegrationError } from "../../src/platform/resilience/integration-error.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";

/** A loopback server whose routes misbehave on purpose. */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const hits: Record<string, number[]> = {};
const routes: Record<string, Handler> = {
  "/ok": (_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ ok: true }));
  },
  "/echo": (req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () =>
      res.end(JSON.stringify({ method: req.method, host: req.headers.host, body })),
    );
  },
  // Never answers: the request was written, the headers never come.
  "/hang": () => {},
  // Headers and a first chunk, then silence.
  "/stall-body": (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first chunk");
  },
  "/big-declared": (_req, res) => {
    res.writeHead(200, { "content-length": String(2 * 1024 * 1024) });
    res.end(Buffer.alloc(2 * 1024 * 1024));
  },
  // No Content-Length: the limit must be enforced while streaming.
  "/big-streamed": (_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    let sent = 0;
    const push = () => {
      while (sent < 4 * 1024 * 1024) {
        sent += 64 * 1024;
        if (!res.write(Buffer.alloc(64 * 1024))) return void res.once("drain", push);
      }
      res.end();
    };
    push();
  },
  "/redirect": (_req, res) => {
    res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
    res.end();
  },
  "/limited-once": (req, res) => {
    if ((hits[req.url!]?.length ?? 0) === 1) {
      res.writeHead(429, { "retry-after": "1" });
      return void res.end("slow down");
    }
    res.end("finally");
  },
  "/fail-twice": (req, res) => {
    if ((hits[req.url!]?.length ?? 0) <= 2) {
      res.writeHead(503);
      return void res.end();
    }
    res.end("recovered");
  },
  "/bad-request": (_req, res) => {
    res.writeHead(400);
    res.end("no");
  },
  // Reads the request, then drops the connection without an answer.
  "/reset": (req) => {
    req.resume();
    req.on("end", () => req.socket.destroy());
  },
};

let server: Server;
let base: string;
let closedPort: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((req, res) => {
    (hits[req.url!] ??= []).push(Date.now());
    (routes[req.url!] ?? routes["/ok"]!)(req, res);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: bind, note, close.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  for (const key of Object.keys(hits)) delete hits[key];
});

const loopback = { allowCidrs: "127.0.0.0/8,::1/128" };
const newClient = (options: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}) =>
  new HttpClient({ provider: "loopback", guard: loopback, ...options });

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error as IntegrationError,
  );

describe("outbound HTTP client on loopback", () => {
  it("answers JSON and sends bodies", async () => {
    const http = newClient();
    try {
      expect((await http.request({ url: `${base}/ok` })).json()).toEqual({ ok: true });
      const echo = await http.request({ url: `${base}/echo`, json: { a: 1 } });
      expect(echo.json()).toMatchObject({ method: "POST", body: '{"a":1}' });
    } finally {
      await http.close();
    }
  });

  it("refuses loopback without the allow-list, before connecting", async () => {
    const http = new HttpClient({ provider: "loopback" });
    try {
      const error = await failure(http.request({ url: `${base}/ok` }));
      expect(error).toMatchObject({
        code: "OUTBOUND_URL_NOT_ALLOWED",
        classification: "permanent",
      });
      expect(hits["/ok"]).toBeUndefined();
    } finally {
      await http.close();
    }
  });

  it("a headers timeout fails as an indeterminate timeout (retryable for a GET)", async () => {
    const http = newClient({ headersTimeoutMs: 300 });
    try {
      const post = await failure(http.request({ url: `${base}/hang`, json: {} }));
      expect(post).toMatchObject({ code: "PROVIDER_TIMEOUT", kind: "timeout" });
      expect(post.classification).toBe("indeterminate");
      const get = await failure(http.request({ url: `${base}/hang` }));
      expect(get.classification).toBe("retryable");
    } finally {
      await http.close();
    }
  });

  it("a body timeout fails when the body stalls", async () => {
    const http = newClient({ bodyTimeoutMs: 300 });
    try {
      const error = await failure(http.request({ url: `${base}/stall-body`, json: {} }));
      expect(error).toMatchObject({ code: "PROVIDER_TIMEOUT", classification: "indeterminate" });
    } finally {
      await http.close();
    }
  });

  it("aborts a response larger than the limit, declared or streamed", async () => {
    const http = newClient({ maxResponseBytes: 1024 * 1024 });
    try {
      for (const path of ["/big-declared", "/big-streamed"]) {
        const error = await failure(http.request({ url: `${base}${path}` }));
        expect(error, path).toMatchObject({
          code: "OUTBOUND_RESPONSE_TOO_LARGE",
          classification: "permanent",
        });
      }
      expect((await http.request({ url: `${base}/ok` })).status).toBe(200);
    } finally {
      await http.close();
    }
  });

  it("never follows a redirect: an error by default, the 3xx itself when asked", async () => {
    const http = newClient();
    const returning = newClient({ redirects: "return" });
    try {
      const error = await failure(http.request({ url: `${base}/redirect` }));
      expect(error).toMatchObject({
        code: "OUTBOUND_REDIRECT_NOT_FOLLOWED",
        status: 302,
        classification: "permanent",
      });
      const response = await returning.request({ url: `${base}/redirect` });
      expect(response.status).toBe(302);
      expect(response.headers["location"]).toBe("http://169.254.169.254/latest/meta-data/");
      expect(hits["/redirect"]).toHaveLength(2);
    } finally {
      await http.close();
      await returning.close();
    }
  });

  it("classifies a refused connection as retryable and a reset after sending as indeterminate", async () => {
    const http = newClient();
    try {
      const refused = await failure(http.request({ url: `http://127.0.0.1:${closedPort}/` }));
      expect(refused).toMatchObject({ code: "PROVIDER_UNREACHABLE", classification: "retryable" });
      const reset = await failure(http.request({ url: `${base}/reset`, json: { send: 1 } }));
      expect(reset.classification).toBe("indeterminate");
    } finally {
      await http.close();
    }
  });
});

describe("HTTP client through an integration policy", () => {
  const settings = {
    integration: "loopback",
    timeoutMs: 2_000,
    retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 5_000, jitter: "none" as const },
    breaker: null,
    bulkhead: { maxConcurrent: 4, maxQueue: 4 },
    rateLimit: null,
  };

  it("honours 429 + Retry-After, then succeeds", async () => {
    const http = newClient();
    const policy = createIntegrationPolicy(settings);
    try {
      const response = await policy.execute(
        (signal) => http.request({ url: `${base}/limited-once`, signal, json: {} }),
        { operation: "send" },
      );
      expect(response.text()).toBe("finally");
      const [first, second] = hits["/limited-once"]!;
      expect(second! - first!).toBeGreaterThanOrEqual(950);
      expect(policy.snapshot().counts).toMatchObject({ requests: 2, errors: 1, retries: 1 });
    } finally {
      await http.close();
    }
  });

  it("retries 5xx until the provider recovers; never retries a 400", async () => {
    const http = newClient();
    const policy = createIntegrationPolicy(settings);
    try {
      const ok = await policy.execute(
        (signal) => http.request({ url: `${base}/fail-twice`, signal, json: {} }),
        { operation: "send" },
      );
      expect(ok.text()).toBe("recovered");
      expect(hits["/fail-twice"]).toHaveLength(3);
      const error = await failure(
        policy.execute((signal) => http.request({ url: `${base}/bad-request`, signal }), {
          operation: "get",
        }),
      );
      expect(error).toMatchObject({ code: "PROVIDER_REJECTED", status: 400 });
      expect(hits["/bad-request"]).toHaveLength(1);
    } finally {
      await http.close();
    }
  });

  it("the policy timeout aborts the request; a send is not repeated", async () => {
    const http = newClient();
    const policy = createIntegrationPolicy({ ...settings, timeoutMs: 300 });
    try {
      const error = await failure(
        policy.execute((signal) => http.request({ url: `${base}/hang`, signal, json: {} }), {
          operation: "send",
        }),
      );
      expect(error).toMatchObject({ code: "INTEGRATION_TIMEOUT", classification: "indeterminate" });
      expect(hits["/hang"]).toHaveLength(1);
    } finally {
      await http.close();
    }
  });
});

describe("GET /v1/integrations", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  it("lists a registered integration with its settings, counts, latency and score", async () => {
    const { integrations, metrics, logger } = t.app.deps;
    const policy = createIntegrationPolicy(
      {
        integration: "loopback-test",
        timeoutMs: 5_000,
        retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 5_000, jitter: "full" },
        breaker: { failureRatio: 0.5, windowMs: 30_000, minRequests: 10, halfOpenAfterMs: 10_000 },
        bulkhead: { maxConcurrent: 10, maxQueue: 10 },
        rateLimit: { perSecond: 100, burst: 10, maxWaitMs: 1_000 },
      },
      {
        registry: integrations,
        metrics,
        logger,
        declared: {
          authentication: true,
          signature: true,
          inputValidation: true,
          tests: { unit: true, integration: true, e2e: true },
        },
      },
    );
    const http = newClient();
    try {
      for (let i = 0; i < 3; i++)
        await policy.execute((signal) => http.request({ url: `${base}/ok`, signal }), {
          operation: "ping",
        });
      await failure(
        policy.execute((signal) => http.request({ url: `${base}/bad-request`, signal }), {
          operation: "ping",
        }),
      );
    } finally {
      await http.close();
    }

    const api = client(t.app, t.adminKey);
    const res = await api.get("/v1/integrations");
    expect(res.status).toBe(200);
    const row = res.body.data.find((r: any) => r.name === "loopback-test");
    expect(row).toMatchObject({
      settings: {
        timeoutMs: 5_000,
        retry: { maxAttempts: 3, baseDelayMs: 100 },
        breaker: { failureRatio: 0.5, minRequests: 10 },
        bulkhead: { maxConcurrent: 10 },
        rateLimit: { perSecond: 100 },
      },
      breaker: { state: "closed" },
      counts: { requests: 4, errors: 1, retries: 0, byOutcome: { success: 3, error: 1 } },
      score: { total: 10, resilience: 10, security: 10, testing: 10, monitoring: 10 },
    });
    expect(row.latencyMs.samples).toBe(4);
    expect(row.latencyMs.p50).toBeGreaterThan(0);
    expect(row.latencyMs.p99).toBeGreaterThanOrEqual(row.latencyMs.p50);
    expect(row.score.points).toMatchObject({ circuitBreaker: 4, metrics: 5, logging: 5 });

    const metricsText = (await client(t.app).get("/metrics")) as { body: unknown };
    expect(String(metricsText.body)).toMatch(
      /ventros_integration_requests_total\{integration="loopback-test",operation="ping",outcome="success"\} 3/,
    );
  });

  it("needs an API key", async () => {
    expect((await client(t.app).get("/v1/integrations")).status).toBe(401);
  });
});
