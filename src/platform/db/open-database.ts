import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../../config.ts";
import type { Logger } from "../logger.ts";
import type { Database } from "./database.ts";
import { openPgliteDatabase } from "./pglite-database.ts";
import { openPostgresDatabase } from "./postgres-database.ts";

/** Chooses the adapter from config: DATABASE_URL means PostgreSQL, else embedded PGlite. */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.DATABASE_URL) {
    return openPostgresDatabase({
      connectionString: config.DATABASE_URL,
      poolMax: config.DATABASE_POOL_MAX,
      statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
      logger,
    });
  }
  const dataDir = join(resolve(config.DATA_DIR), "pglite");
  mkdirSync(dataDir, { recursive: true });
  return openPgliteDatabase({ dataDir });
}
