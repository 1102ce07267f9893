import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { Logger } from "../logger.ts";
import { classifyingDialect } from "./classifying-dialect.ts";
import type { Database } from "./database.ts";
import type { DB } from "./schema.ts";

export interface PostgresOptions {
  connectionString: string;
  poolMax: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  logger: Logger;
}

/** Real PostgreSQL through a pg pool with bounded statement and connect times. */
export function openPostgresDatabase(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolMax,
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: "ventros",
  });
  // An idle client losing its server must not crash the process; the pool replaces it.
  pool.on("error", (error) => options.logger.warn({ err: error }, "postgres idle client error"));
  // pg-pool listens for client errors only while a client is idle. A checked-out client
  // whose connection drops also emits 'error', which would crash the process unheard; the
  // caller already gets the failure (classified) through its query, so swallow the event.
  pool.on("connect", (client) => client.on("error", () => undefined));
  const db = new Kysely<DB>({ dialect: classifyingDialect(new PostgresDialect({ pool })) });
  let closed = false;
  return {
    kind: "postgres",
    db,
    jobsExecutor: undefined,
    connectionString: options.connectionString,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
