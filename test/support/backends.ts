/**
 * Which database a test project runs against. The "postgres" project exists only when
 * DATABASE_URL is set, and then it must reach the server: an unreachable URL fails the
 * run in global setup rather than skipping anything.
 */
export type TestBackend = "pglite" | "postgres";

declare module "vitest" {
  export interface ProvidedContext {
    pgliteTemplatePath: string;
    postgresTemplateUrl: string;
    runId: string;
  }
}

/** Replaces the database name of a PostgreSQL URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
