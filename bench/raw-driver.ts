import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { migrations } from "../src/platform/db/migrations/index.ts";
import { uuidv7 } from "../src/platform/ids.ts";
import type { ContactBody } from "./contact-traffic.ts";

/**
 * The baseline: the database driver alone on the app's own schema (same table, indexes
 * and foreign key), one autocommit statement per call. The insert writes the columns the
 * contacts service writes, `returning *`; the select is a plain primary-key lookup
 * (`where id = $1`), the cheapest way to read one contact. The HTTP figures are divided
 * by these rates.
 */
export interface RawDriver {
  insertContact(body: ContactBody): Promise<string>;
  selectContact(id: string): Promise<void>;
  close(): Promise<void>;
}

const INSERT = `insert into contacts
  (id, project_id, name, phone, email, tags, custom_fields, external_id, created_at, updated_at)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning *`;
const SELECT = `select * from contacts where id = $1`;
const INSERT_PROJECT = `insert into projects (id, name) values ($1, 'bench raw driver')`;

type Query = (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>;

function contactStatements(query: Query, projectId: string) {
  return {
    async insertContact(body: ContactBody) {
      const id = uuidv7();
      const now = new Date();
      // The service stores the phone as digits and the email lower-cased.
      const phone = body.phone.replace(/\D/g, "");
      const values = [id, projectId, body.name, phone, body.email, body.tags, "{}", null, now, now];
      const { rows } = await query(INSERT, values);
      if (rows.length !== 1) throw new Error("insert returned no row");
      return id;
    },
    async selectContact(id: string) {
      const { rows } = await query(SELECT, [id]);
      if (rows.length !== 1) throw new Error(`contact ${id} not found`);
    },
  };
}

/** Puts the app's schema on a PGlite of its own and queries it through `pglite.query`. */
export async function openRawPglite(pglite: PGlite): Promise<RawDriver> {
  for (const migration of migrations) {
    for (const statement of migration.statements) await pglite.exec(statement);
  }
  const projectId = uuidv7();
  await pglite.query(INSERT_PROJECT, [projectId]);
  const query: Query = (text, values) => pglite.query(text, values);
  return { ...contactStatements(query, projectId), close: () => pglite.close() };
}

/** A pg.Pool on the (already migrated) bench database, sized like the app's pool. */
export async function openRawPostgres(connectionString: string, max: number): Promise<RawDriver> {
  const pool = new pg.Pool({ connectionString, max, application_name: "ventros-bench-raw" });
  pool.on("error", () => undefined);
  const projectId = uuidv7();
  await pool.query(INSERT_PROJECT, [projectId]);
  const query: Query = (text, values) => pool.query(text, values);
  return { ...contactStatements(query, projectId), close: () => pool.end() };
}
