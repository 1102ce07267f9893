import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { inject } from "vitest";
import { compose, type App, type ComposeOptions } from "../../src/compose.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { openPgliteDatabase } from "../../src/platform/db/pglite-database.ts";
import { createLogger } from "../../src/platform/logger.ts";
import { withDatabase, type TestBackend } from "./backends.ts";

export const backend: TestBackend =
  process.env["VENTROS_TEST_DB"] === "postgres" ? "postgres" : "pglite";

let counter = 0;

export interface TestAppOptions {
  /**
   * PostgreSQL only: rewrites the URL the app connects with (e.g. through a TCP proxy for
   * outage tests). The test still creates and drops its database directly.
   */
  databaseUrlVia?: (url: string) => string;
  /** Extra composition options: test consumers, the relay kept stopped, DNS, a clock. */
  compose?: Pick<ComposeOptions, "consumers" | "relay" | "resolver" | "clock">;
  /**
   * A second instance on another test app's database (same project and admin key). It is
   * neither closed nor dropped by this app: close it before the app it shares with.
   */
  shareDatabaseOf?: TestApp;
  /**
   * An existing database left by someone else (e.g. a killed child process): a
   * PostgreSQL URL, or an on-disk PGlite DATA_DIR. Not dropped on close; no admin key is
   * printed on a bootstrapped database, so `adminKey` is then "".
   */
  existingDatabase?: { url: string } | { dataDir: string };
}

export interface TestApp {
  app: App;
  /** The bootstrap admin key of the first project. */
  adminKey: string;
  databaseUrl: string | undefined;
  close(): Promise<void>;
}

/**
 * A composed app on a fresh clone of the migrated template: PGlite in memory, or a new
 * PostgreSQL database (dropped on close). Jobs run; nothing listens on a port.
 */
export async function createTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  let databaseUrl: string | undefined;
  let dropDatabase = async () => {};
  const base = {
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    JOBS_POLL_INTERVAL_SECONDS: "0.5",
    // Never write a key file into the working tree from a test.
    ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    // Suites send bursts from one key and one address; the rate-limit suite sets its own.
    RATE_LIMIT_PER_KEY_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_IP_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_CHANNEL_PER_MINUTE: "1000000",
    ...env,
  };
  let config: Config;
  let app: App;
  const lines: string[] = [];
  const announce = (line: string) => lines.push(line);
  // VENTROS_TEST_LOG=1 shows the app's errors while debugging a suite.
  const level = process.env["VENTROS_TEST_LOG"] === "1" ? "error" : "silent";
  const composeOptions = { ...options.compose, logger: createLogger(level), announce };
  const shared = options.shareDatabaseOf;
  const existing = options.existingDatabase;
  if (shared) {
    if (shared.databaseUrl) {
      databaseUrl = shared.databaseUrl;
      config = loadConfig({ ...base, DATABASE_URL: databaseUrl });
      app = await compose(config, composeOptions);
    } else {
      config = loadConfig(base);
      const database = borrowed(shared.app.deps.database);
      app = await compose(config, { ...composeOptions, database });
    }
  } else if (existing) {
    if ("url" in existing) {
      databaseUrl = existing.url;
      config = loadConfig({ ...base, DATABASE_URL: databaseUrl });
    } else {
      config = loadConfig({ ...base, DATA_DIR: existing.dataDir });
    }
    app = await compose(config, composeOptions);
  } else if (backend === "postgres") {
    const templateUrl = inject("postgresTemplateUrl");
    const template = new URL(templateUrl).pathname.slice(1);
    const name = `ventros_t_${inject("runId")}_${process.pid}_${counter++}`;
    const admin = new pg.Client({ connectionString: withDatabase(templateUrl, "postgres") });
    await admin.connect();
    await admin.query(`create database ${name} template ${template}`);
    await admin.end();
    databaseUrl = withDatabase(templateUrl, name);
    dropDatabase = async () => {
      const client = new pg.Client({ connectionString: withDatabase(templateUrl, "postgres") });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    };
    const appUrl = options.databaseUrlVia ? options.databaseUrlVia(databaseUrl) : databaseUrl;
    config = loadConfig({ ...base, DATABASE_URL: appUrl });
    app = await compose(config, composeOptions);
  } else {
    const template = new Blob([readFileSync(inject("pgliteTemplatePath"))]);
    const database = await openPgliteDatabase({ loadDataDir: template });
    config = loadConfig(base);
    app = await compose(config, { ...composeOptions, database });
  }
  await app.start();
  const printed = lines.map((l) => /^Admin API key: (\S+)$/.exec(l)?.[1]).find(Boolean);
  const adminKey = shared ? shared.adminKey : existing ? (printed ?? "") : printed;
  if (adminKey === undefined) throw new Error("bootstrap did not print an admin key");
  return {
    app,
    adminKey,
    databaseUrl,
    async close() {
      await app.stop();
      await dropDatabase();
    },
  };
}

/** Another app's in-process database, which this app uses but must not close. */
function borrowed(database: Database): Database {
  return {
    kind: database.kind,
    db: database.db,
    jobsExecutor: database.jobsExecutor,
    connectionString: database.connectionString,
    ping: () => database.ping(),
    close: async () => {},
  };
}
