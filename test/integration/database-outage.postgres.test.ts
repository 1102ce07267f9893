import { sql } from "kysely";
import pg from "pg";
import Type from "typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusOf } from "../../src/http/error-handler.ts";
import { classifyDatabaseError } from "../../src/platform/db/database-errors.ts";
import { isAppError } from "../../src/platform/errors.ts";
import { defineJob } from "../../src/platform/jobs/job-definition.ts";
import { JobQueue } from "../../src/platform/jobs/job-queue.ts";
import { createLogger } from "../../src/platform/logger.ts";
import { client } from "../support/http.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * PostgreSQL disappearing under a running app (a loopback proxy between them is cut) and
 * coming back: the API answers 503 DATABASE_UNAVAILABLE with Retry-After, never 500,
 * writes nothing, and recovers on its own once the database is reachable again.
 */

const RECOVERY_MS = 20_000;
const retried = { name: "Retried after the outage", phone: "5511900000002" };

const query = async <R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values?: unknown[],
) => {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
};

describe("database outage", () => {
  let proxy: TcpProxy;
  let t: TestApp;
  let api: ReturnType<typeof client>;
  let directUrl: string;

  const expectUnavailable = (res: {
    status: number;
    headers: Record<string, unknown>;
    body: any;
  }) => {
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("DATABASE_UNAVAILABLE");
    expect(res.headers["retry-after"]).toBe("1");
  };

  beforeAll(async () => {
    const target = new URL(process.env["DATABASE_URL"] ?? "postgres://127.0.0.1:5432/");
    if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname))
      throw new Error(`outage tests proxy loopback only, not ${target.hostname}`);
    proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(target.port || 5432) });
    t = await createTestApp(
      { DATABASE_CONNECT_TIMEOUT_MS: "1000" },
      { databaseUrlVia: (url) => proxy.urlVia(url) },
    );
    api = client(t.app, t.adminKey);
    directUrl = t.databaseUrl!;
  });

  afterAll(async () => {
    proxy?.restore();
    await t?.close();
    await proxy?.close();
  });

  it("is ready and serves contacts through the proxy", async () => {
    const ready = await api.get("/health/ready");
    expect(ready.status).toBe(200);
    expect((await api.get("/v1/contacts")).status).toBe(200);
  });

  it("answers 503 DATABASE_UNAVAILABLE while the database is unreachable and writes nothing", async () => {
    proxy.cut();

    const ready = await api.get("/health/ready");
    expectUnavailable(ready);
    expect(ready.body.checks.database.status).toBe("unavailable");

    expectUnavailable(await api.get("/v1/contacts"));
    expectUnavailable(
      await api.post("/v1/contacts", { name: "Written during the outage", phone: "5511900000001" }),
    );
    expectUnavailable(await api.post("/v1/contacts", retried, { "idempotency-key": "outage-1" }));

    const rows = await query<{ n: number }>(
      directUrl,
      "select (select count(*) from contacts)::int + (select count(*) from idempotency_keys)::int as n",
    );
    expect(rows[0]?.n).toBe(0);
  });

  it("recovers by itself once the database is reachable again", async () => {
    proxy.restore();
    await waitFor(async () => (await api.get("/health/ready")).status === 200, RECOVERY_MS, {
      what: "readiness after the outage",
    });

    const list = await api.get("/v1/contacts");
    expect(list.status).toBe(200);
    expect(list.body.data.map((c: { name: string }) => c.name)).not.toContain(
      "Written during the outage",
    );
    // The Idempotency-Key used during the outage was never claimed: a retry goes through.
    const created = await api.post("/v1/contacts", retried, { "idempotency-key": "outage-1" });
    expect(created.status).toBe(201);
    expect(created.headers["idempotent-replayed"]).toBeUndefined();
    expect((await api.get(`/v1/contacts/${created.body.id}`)).status).toBe(200);
  });

  it("fails a query in flight when the connection drops, without crashing the process", async () => {
    const { db } = t.app.deps.database;
    const sleeping = sql`select pg_sleep(30) as slept`.execute(db).then(
      () => undefined,
      (error: unknown) => error,
    );
    await waitFor(
      async () =>
        (
          await query<{ n: number }>(
            directUrl,
            "select count(*)::int as n from pg_stat_activity where state = 'active' and query like 'select pg_sleep(30)%'",
          )
        )[0]?.n === 1,
      RECOVERY_MS,
      { what: "the slow query to start" },
    );

    proxy.cut();
    const error = await sleeping;
    expect(isAppError(error) && error.code).toBe("DATABASE_UNAVAILABLE");

    proxy.restore();
    await waitFor(async () => (await api.get("/health/ready")).status === 200, RECOVERY_MS, {
      what: "readiness after the dropped connection",
    });
    expect((await api.get("/v1/contacts")).status).toBe(200);
  });
  it("survives the database vanishing while job handlers finish; the jobs stay claimed", async () => {
    // The handlers finish while the database is gone, so recording their outcome fails.
    // That must be reported, not crash the process; the jobs stay active until they
    // expire and are retried, so nothing is lost.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started: string[] = [];
    const gated = defineJob({
      name: "test_outage_gated",
      schema: Type.Object({ outcome: Type.Union([Type.Literal("ok"), Type.Literal("error")]) }),
      concurrency: 2,
      retryLimit: 1,
      async handler({ outcome }) {
        started.push(outcome);
        await gate;
        if (outcome === "error") throw new Error("handler failed during the outage");
      },
    });
    const logLines: string[] = [];
    const queue = new JobQueue({
      database: t.app.deps.database,
      logger: createLogger("warn", { write: (line: string) => void logLines.push(line) }),
      metrics: t.app.deps.metrics,
      pollIntervalSeconds: 0.5,
      retryLimit: 0,
      retryDelaySeconds: 1,
    });
    queue.register([gated]);
    await queue.start();
    try {
      const ids = [
        await queue.enqueue(gated, { outcome: "ok" }),
        await queue.enqueue(gated, { outcome: "error" }),
      ];
      await waitFor(() => started.length === 2, RECOVERY_MS, { what: "both handlers to start" });

      proxy.cut();
      release();
      await waitFor(
        () => logLines.filter((l) => l.includes("job queue error")).length >= 2,
        RECOVERY_MS,
        { what: "both lost job outcomes to be reported" },
      );

      proxy.restore();
      await waitFor(async () => (await api.get("/health/ready")).status === 200, RECOVERY_MS, {
        what: "readiness after the outage",
      });
      for (const id of ids) expect((await queue.getJob(gated.name, id))?.state).toBe("active");
    } finally {
      release();
      proxy.restore();
      await queue.stop(5_000);
    }
  });
});

describe("database statement timeout", () => {
  let t: TestApp;
  let api: ReturnType<typeof client>;
  let locker: pg.Client | undefined;

  beforeAll(async () => {
    t = await createTestApp({ DATABASE_STATEMENT_TIMEOUT_MS: "1000" });
    api = client(t.app, t.adminKey);
  });

  afterAll(async () => {
    await locker?.end().catch(() => undefined);
    await t?.close();
  });

  it("answers 504 DATABASE_TIMEOUT when a route's statement outlives statement_timeout", async () => {
    // Another session holds the contacts table: a real lock wait, which statement_timeout
    // bounds like any other slow statement.
    locker = new pg.Client({ connectionString: t.databaseUrl, connectionTimeoutMillis: 5_000 });
    await locker.connect();
    await locker.query("begin");
    await locker.query("lock table contacts in access exclusive mode");

    const res = await api.get("/v1/contacts");
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe("DATABASE_TIMEOUT");

    await locker.query("rollback");
    expect((await api.get("/v1/contacts")).status).toBe(200);
  });

  it("classifies PostgreSQL's own statement-timeout error as DATABASE_TIMEOUT (504)", async () => {
    const c = new pg.Client({ connectionString: t.databaseUrl, connectionTimeoutMillis: 5_000 });
    await c.connect();
    try {
      await c.query("set statement_timeout = 100");
      const raw = await c.query("select pg_sleep(5)").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((raw as { code?: string }).code).toBe("57014");
      const classified = classifyDatabaseError(raw);
      expect(isAppError(classified) && classified.code).toBe("DATABASE_TIMEOUT");
      expect(isAppError(classified) && statusOf(classified)).toBe(504);
      expect(isAppError(classified) && classified.retryable).toBe(true);
    } finally {
      await c.end();
    }
  });
});
