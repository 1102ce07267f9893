import { defineConfig } from "vitest/config";

/**
 * Three projects: unit tests beside the code; integration suites on embedded PGlite;
 * and the same integration suites on PostgreSQL whenever DATABASE_URL is set (CI sets
 * it). Files named *.postgres.test.ts need a real server and run only there.
 */
const integration = (name: string, backend: string, include: string[], exclude: string[] = []) => ({
  extends: true as const,
  test: {
    name,
    include,
    exclude,
    env: { VENTROS_TEST_DB: backend },
    globalSetup: ["test/support/global-setup.ts"],
  },
});

export default defineConfig({
  test: {
    reporters: ["default", "./test/support/summary-reporter.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["src/**/*.test.ts"] } },
      integration("pglite", "pglite", ["test/**/*.test.ts"], ["test/**/*.postgres.test.ts"]),
      ...(process.env["DATABASE_URL"]
        ? [integration("postgres", "postgres", ["test/**/*.test.ts"])]
        : []),
    ],
  },
});
