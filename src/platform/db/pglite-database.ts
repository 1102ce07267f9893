import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import type { Database, SqlExecutor } from "./database.ts";
import { classifyingDialect } from "./classifying-dialect.ts";
import { Mutex } from "./mutex.ts";
import type { DB } from "./schema.ts";

export interface PgliteOptions {
  /** Directory for on-disk data; undefined = in memory. */
  dataDir?: string;
  /** A dump (from `dumpDataDir`) to start from, e.g. a migrated test template. */
  loadDataDir?: Blob | File;
}

/**
 * Embedded PostgreSQL. PGlite has a single connection, so Kysely sees a one-connection
 * "pool" whose connect() takes the mutex and whose release() frees it; pg-boss gets an
 * executor guarded by the same mutex (STACK.md explains the trap this avoids).
 */
export interface PgliteDatabase extends Database {
  /** The whole data directory as a tarball (a migrated template for tests). */
  dump(): Promise<Blob>;
}

export async function openPgliteDatabase(options: PgliteOptions = {}): Promise<PgliteDatabase> {
  const pglite = await PGlite.create({
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
  });
  const mutex = new Mutex();
  let closed = false;
  const assertOpen = () => {
    if (closed) throw new Error("PGlite is closed");
  };

  const client = {
    async query(text: string, values: unknown[] = []) {
      assertOpen();
      const result = await pglite.query<Record<string, unknown>>(text, values);
      return {
        rows: result.rows,
        rowCount: result.affectedRows ?? result.rows.length,
        command: text.trimStart().slice(0, 6).toUpperCase(),
      };
    },
    release() {},
  };
  const pool = {
    async connect() {
      const release = await mutex.acquire();
      return { ...client, release };
    },
    async end() {},
  };

  const jobsExecutor: SqlExecutor = {
    executeSql: (text, values) =>
      mutex.run(async () => {
        assertOpen();
        try {
          if (values && values.length > 0) return { rows: (await pglite.query(text, values)).rows };
          // pg-boss sends multi-statement scripts (BEGIN; ...; COMMIT) without parameters.
          const results = await pglite.exec(text);
          return { rows: results.at(-1)?.rows ?? [] };
        } catch (error) {
          // A failed script leaves its BEGIN open; never let the next caller inherit it.
          await pglite.exec("ROLLBACK").catch(() => undefined);
          throw error;
        }
      }),
  };

  const db = new Kysely<DB>({
    dialect: classifyingDialect(new PostgresDialect({ pool: pool as never })),
  });

  return {
    kind: "pglite",
    db,
    jobsExecutor,
    connectionString: undefined,
    async ping() {
      await sql`select 1`.execute(db);
    },
    dump: () => mutex.run(() => pglite.dumpDataDir("none")),
    async close() {
      if (closed) return;
      await mutex.run(async () => {
        closed = true;
        await pglite.close();
      });
      await db.destroy();
    },
  };
}
