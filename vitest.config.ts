import { defineConfig } from "vitest/config";

/**
 * Projects: unit tests beside the code; integration suites on embedded PGlite; the
 * same suites on PostgreSQL whenever DATABASE_URL is set (CI sets it); and the
 * RabbitMQ suites whenever AMQP_URL is set (on PostgreSQL when it is configured too);
 * the Redis suites whenever REDIS_URL is set. A suite named *.postgres.test.ts needs a
 * real PostgreSQL, *.rabbitmq.test.ts a real broker, *.redis.test.ts a real Redis; a
 * configured but unreachable server fails the run, it never skips.
 */
const REAL_BACKEND_SUITES = [
  "test/**/*.postgres.test.ts",
  "test/**/*.rabbitmq.test.ts",
  "test/**/*.redis.test.ts",
];

const integration = (name: string, backend: string, include: string[], exclude: string[]) => ({
  extends: true as const,
  test: {
    name,
    include,
    exclude,
    env: { VENTROS_TEST_DB: backend },
    globalSetup: ["test/support/global-setup.ts"],
  },
});

const postgres = Boolean(process.env["DATABASE_URL"]);

export default defineConfig({
  test: {
    reporters: ["default", "./test/support/summary-reporter.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["src/**/*.test.ts"] } },
      integration("pglite", "pglite", ["test/**/*.test.ts"], REAL_BACKEND_SUITES),
      ...(postgres
        ? [
            integration(
              "postgres",
              "postgres",
              ["test/**/*.test.ts"],
              ["test/**/*.rabbitmq.test.ts", "test/**/*.redis.test.ts"],
            ),
          ]
        : []),
      ...(process.env["AMQP_URL"]
        ? [
            integration(
              "rabbitmq",
              postgres ? "postgres" : "pglite",
              ["test/**/*.rabbitmq.test.ts"],
              [],
            ),
          ]
        : []),
      ...(process.env["REDIS_URL"]
        ? [integration("redis", postgres ? "postgres" : "pglite", ["test/**/*.redis.test.ts"], [])]
        : []),
    ],
  },
});
