import type { Kysely, Transaction } from "kysely";
import type { DB } from "./schema.ts";

/** A raw SQL executor in the shape pg-boss expects for its `db` option. */
export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export type Queryable = Kysely<DB> | Transaction<DB>;

/**
 * The database port. Both adapters (embedded PGlite, PostgreSQL) run the same SQL and
 * migrations; only connection handling differs.
 */
export interface Database {
  readonly kind: "pglite" | "postgres";
  readonly db: Kysely<DB>;
  /** The executor pg-boss uses outside our transactions (serialized on PGlite). */
  readonly jobsExecutor: SqlExecutor | undefined;
  /** Connection settings for pg-boss's own pool on PostgreSQL. */
  readonly connectionString: string | undefined;
  ping(): Promise<void>;
  close(): Promise<void>;
}
