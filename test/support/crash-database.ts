import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { inject } from "vitest";
import { withDatabase } from "./backends.ts";
import { backend } from "./test-app.ts";

let counter = 0;

/**
 * A database a child process can be killed on and a later app can reopen: a fresh
 * PostgreSQL database cloned from the migrated template, or an on-disk PGlite DATA_DIR.
 * `env` is what the child needs; `existing` goes to createTestApp's `existingDatabase`.
 */
export async function crashDatabase(label: string) {
  if (backend === "postgres") {
    const templateUrl = inject("postgresTemplateUrl");
    const template = new URL(templateUrl).pathname.slice(1);
    const name = `ventros_${label}_${inject("runId")}_${process.pid}_${counter++}`;
    const adminUrl = withDatabase(templateUrl, "postgres");
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database ${name} template ${template}`);
    await admin.end();
    const url = withDatabase(templateUrl, name);
    return {
      env: { DATABASE_URL: url } as Record<string, string>,
      existing: { url },
      async drop() {
        const c = new pg.Client({ connectionString: adminUrl });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`);
        await c.end();
      },
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), `ventros-${label}-`));
  return {
    env: { DATA_DIR: dataDir } as Record<string, string>,
    existing: { dataDir },
    async drop() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
