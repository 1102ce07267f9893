import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client } from "../support/http.ts";

let t: TestApp;
let api: ReturnType<typeof client>;
let anonymous: ReturnType<typeof client>;

beforeAll(async () => {
  t = await createTestApp();
  api = client(t.app, t.adminKey);
  anonymous = client(t.app);
});
afterAll(async () => t?.close());

/** The sample value of a metric line with exactly these labels, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf("}"));
    const found = Object.fromEntries(
      [...inner.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) {
      return Number(line.slice(line.lastIndexOf("}") + 1).trim());
    }
  }
  return undefined;
}

describe("health", () => {
  it("GET /health/live answers 200 without a key", async () => {
    const res = await anonymous.get("/health/live");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
    expect(res.headers["x-request-id"]).toEqual(expect.any(String));
  });

  it("GET /health/ready answers 200 with each dependency's status and latency", async () => {
    const res = await anonymous.get("/health/ready");
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("ok");
    expect(res.body.checks.database).toEqual({ status: "ok", latencyMs: expect.any(Number) });
    expect(Number.isFinite(res.body.checks.database.latencyMs)).toBe(true);
    expect(res.body.checks.database.latencyMs).toBeGreaterThanOrEqual(0);
    for (const [name, check] of Object.entries<any>(res.body.checks)) {
      expect(check.status, name).toBe("ok");
      expect(typeof check.latencyMs, name).toBe("number");
    }
  });

  it("a key is neither needed nor harmful on health routes", async () => {
    expect((await api.get("/health/live")).status).toBe(200);
    expect((await client(t.app, "vtr_garbage").get("/health/ready")).status).toBe(200);
  });
});

describe("metrics", () => {
  it("GET /metrics is Prometheus text with request durations by route and default metrics", async () => {
    const contact = await api.post("/v1/contacts", { name: "Metric Person" });
    expect(contact.status).toBe(201);
    expect((await api.get(`/v1/contacts/${contact.body.id}`)).status).toBe(200);
    expect((await api.get("/v1/contacts/01890000-0000-7000-8000-000000000000")).status).toBe(404);
    expect((await anonymous.get("/v1/contacts")).status).toBe(401);

    // onResponse records after the answer is sent; poll /metrics a bounded number of times.
    let text = "";
    for (let i = 0; i < 50; i++) {
      const res = await anonymous.get("/metrics");
      expect(res.status).toBe(200);
      expect(String(res.headers["content-type"])).toMatch(/^text\/plain; version=0\.0\.4/);
      text = res.body as string;
      if (
        sample(text, "ventros_http_request_duration_seconds_count", {
          route: "/v1/contacts/:id",
          status_code: "404",
        }) !== undefined
      )
        break;
    }
    expect(text).toContain("# TYPE ventros_http_request_duration_seconds histogram");
    expect(
      sample(text, "ventros_http_request_duration_seconds_count", {
        method: "POST",
        route: "/v1/contacts",
        status_code: "201",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "ventros_http_request_duration_seconds_count", {
        method: "GET",
        route: "/v1/contacts/:id",
        status_code: "200",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "ventros_http_request_duration_seconds_count", {
        method: "GET",
        route: "/v1/contacts/:id",
        status_code: "404",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "ventros_http_request_duration_seconds_bucket", {
        method: "POST",
        route: "/v1/contacts",
        status_code: "201",
        le: "+Inf",
      }),
    ).toBeGreaterThanOrEqual(1);
    // The route label is the template, never the concrete id.
    expect(text).not.toContain(contact.body.id);

    expect(text).toContain("# TYPE ventros_process_cpu_seconds_total counter");
    expect(text).toMatch(/^ventros_process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^ventros_nodejs_eventloop_lag_seconds \d/m);
  });

  it("counts grow with each request", async () => {
    const read = async () => {
      const text = (await anonymous.get("/metrics")).body as string;
      return sample(text, "ventros_http_request_duration_seconds_count", {
        method: "GET",
        route: "/health/live",
        status_code: "200",
      });
    };
    await anonymous.get("/health/live");
    let before = await read();
    for (let i = 0; i < 50 && before === undefined; i++) before = await read();
    expect(before).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 3; i++) await anonymous.get("/health/live");
    let after = await read();
    for (let i = 0; i < 50 && (after ?? 0) < (before ?? 0) + 3; i++) after = await read();
    expect(after).toBeGreaterThanOrEqual((before ?? 0) + 3);
  });
});

describe("OpenAPI and docs", () => {
  it("GET /openapi.json is OpenAPI 3.1 describing the v1 routes and the error shape", async () => {
    const res = await anonymous.get("/openapi.json");
    expect(res.status).toBe(200);
    expect(String(res.headers["content-type"])).toMatch(/application\/json/);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info.title).toEqual(expect.any(String));
    for (const path of [
      "/v1/contacts",
      "/v1/contacts/{id}",
      "/v1/projects",
      "/v1/project",
      "/v1/api-keys",
      "/v1/api-keys/{id}",
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(Object.keys(doc.paths["/v1/contacts"]).sort()).toEqual(
      expect.arrayContaining(["get", "post"]),
    );
    expect(Object.keys(doc.paths["/v1/contacts/{id}"])).toEqual(
      expect.arrayContaining(["get", "patch", "delete"]),
    );
    expect(doc.paths["/v1/projects"]).toHaveProperty("post");
    expect(Object.keys(doc.paths)).not.toContain("/openapi.json");

    const error = doc.components.schemas.ErrorResponse;
    expect(error).toBeDefined();
    expect(error.properties.error.properties).toEqual(
      expect.objectContaining({
        code: expect.any(Object),
        message: expect.any(Object),
        requestId: expect.any(Object),
      }),
    );
    const notFound = doc.paths["/v1/contacts/{id}"].get.responses["404"];
    expect(JSON.stringify(notFound)).toContain("#/components/schemas/ErrorResponse");
    const created = doc.paths["/v1/contacts"].post.responses["201"];
    expect(JSON.stringify(created)).toContain("phone");
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("GET /docs serves the UI (directly or through a redirect)", async () => {
    let res = await t.app.server.inject({ method: "GET", url: "/docs" });
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 5; hops++) {
      const location = String(res.headers.location);
      const next = new URL(location, "http://127.0.0.1/docs");
      res = await t.app.server.inject({ method: "GET", url: next.pathname + next.search });
    }
    expect(res.statusCode).toBe(200);
    expect(String(res.headers["content-type"])).toMatch(/text\/html/);
    expect(res.body).toMatch(/swagger/i);
  });
});
