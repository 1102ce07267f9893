import { sql, type Kysely } from "kysely";
import type { DB } from "./schema.ts";
import { migrations as allMigrations } from "./migrations/index.ts";

export interface Migration {
  name: string;
  statements: string[];
}

/** Arbitrary constant shared by every Ventros instance: one migrator at a time. */
const MIGRATION_LOCK_KEY = 7_240_501_118;

/**
 * Applies pending migrations, each in its own transaction and recorded once, while
 * holding a session advisory lock on one pinned connection so that instances starting
 * together never race. `afterMigrate` runs under the same lock (first-start bootstrap).
 */
export async function migrate(
  db: Kysely<DB>,
  options: { migrations?: Migration[]; afterMigrate?: (db: Kysely<DB>) => Promise<void> } = {},
): Promise<string[]> {
  const migrations = options.migrations ?? allMigrations;
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
    try {
      await sql`create table if not exists ventros_migrations (
        name text primary key,
        applied_at timestamptz not null default now()
      )`.execute(conn);
      const done = new Set(
        (await conn.selectFrom("ventros_migrations").select("name").execute()).map((r) => r.name),
      );
      const applied: string[] = [];
      for (const migration of migrations) {
        if (done.has(migration.name)) continue;
        await conn.transaction().execute(async (trx) => {
          for (const statement of migration.statements) await sql.raw(statement).execute(trx);
          await trx.insertInto("ventros_migrations").values({ name: migration.name }).execute();
        });
        applied.push(migration.name);
      }
      if (options.afterMigrate) await options.afterMigrate(conn);
      return applied;
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn);
    }
  });
}
