import { readFileSync } from "node:fs";
import pg from "pg";
import { inject } from "vitest";
import { compose, type App } from "../../src/compose.ts";
import { loadConfig, type Config } from "../../src/config.ts";
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
  const base = { NODE_ENV: "test", LOG_LEVEL: "silent", JOBS_POLL_INTERVAL_SECONDS: "0.5", ...env };
  let config: Config;
  let app: App;
  const lines: string[] = [];
  const announce = (line: string) => lines.push(line);
  if (backend === "postgres") {
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
    app = await compose(config, { logger: createLogger("silent"), announce });
  } else {
    const template = new Blob([readFileSync(inject("pgliteTemplatePath"))]);
    const database = await openPgliteDatabase({ loadDataDir: template });
    config = loadConfig(base);
    app = await compose(config, { database, logger: createLogger("silent"), announce });
  }
  await app.start();
  const adminKey = lines.map((l) => /^Admin API key: (\S+)$/.exec(l)?.[1]).find(Boolean);
  if (!adminKey) throw new Error("bootstrap did not print an admin key");
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
