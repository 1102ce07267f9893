import { CompiledQuery, type Kysely, type Transaction } from "kysely";
import type { Queryable, SqlExecutor } from "./database.ts";
import type { DB } from "./schema.ts";

/**
 * Runs `fn` in one transaction. Work that must commit with the state (jobs enqueued via
 * `executorFor(trx)`, later outbox rows) joins by using the `trx` it is given. A caller
 * that already holds a transaction passes it and `fn` simply joins it.
 */
export async function withTransaction<T>(
  db: Queryable,
  fn: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<DB>);
  return (db as Kysely<DB>).transaction().execute(fn);
}

/** Lets raw-SQL clients (pg-boss) run their statements inside a Kysely transaction. */
export function executorFor(db: Queryable): SqlExecutor {
  return {
    async executeSql(text, values = []) {
      const result = await db.executeQuery(CompiledQuery.raw(text, values));
      return { rows: result.rows as unknown[] };
    },
  };
}
