import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Redis } from "ioredis";
import { Connection } from "rabbitmq-client";
import type { TestProject } from "vitest/node";
import { migrate } from "../../src/platform/db/migrate.ts";
import { openPgliteDatabase } from "../../src/platform/db/pglite-database.ts";
import { openPostgresDatabase } from "../../src/platform/db/postgres-database.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { JobQueue } from "../../src/platform/jobs/job-queue.ts";
import { createLogger } from "../../src/platform/logger.ts";
import { createMetrics } from "../../src/platform/metrics/metrics.ts";
import { withDatabase, type TestBackend } from "./backends.ts";

/** Migrations and the pg-boss schema, applied once per run into a template. */
async function prepare(database: Database) {
  await migrate(database.db);
  const jobs = new JobQueue({
    database,
    logger: createLogger("silent"),
    metrics: createMetrics(),
    pollIntervalSeconds: 1,
    retryLimit: 0,
    retryDelaySeconds: 1,
  });
  await jobs.migrate();
  await jobs.stop(1000);
}

/**
 * Builds a migrated template once per run so each test file clones it in ~1 s instead of
 * paying initdb (PGlite) or migrations (PostgreSQL) again.
 */
export default async function setup(project: TestProject) {
  const backend = project.config.env?.["VENTROS_TEST_DB"] as TestBackend | undefined;
  if (project.name === "rabbitmq") await assertBrokerReachable(process.env["AMQP_URL"]);
  if (project.name === "redis") await assertRedisReachable(process.env["REDIS_URL"]);
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  project.provide("runId", runId);
  if (backend === "postgres") return setupPostgres(project, runId);
  const dir = mkdtempSync(join(tmpdir(), "ventros-test-"));
  const database = await openPgliteDatabase();
  await prepare(database);
  const dump = await database.dump();
  const path = join(dir, "template.tar");
  writeFileSync(path, Buffer.from(await dump.arrayBuffer()));
  await database.close();
  project.provide("pgliteTemplatePath", path);
  return () => rmSync(dir, { recursive: true, force: true });
}

/**
 * The rabbitmq project exists only when AMQP_URL is set; a broker that is configured but
 * unreachable fails the run here instead of letting suites skip or time out one by one.
 */
async function assertBrokerReachable(url: string | undefined) {
  if (!url) throw new Error("the rabbitmq test project needs AMQP_URL");
  const connection = new Connection({
    url,
    connectionName: "ventros-test-setup",
    connectionTimeout: 5_000,
    retryLow: 100,
    retryHigh: 500,
  });
  // Errors are reported through onConnect below; an unhandled "error" event would crash.
  connection.on("error", () => undefined);
  try {
    // disableAutoClose: rabbitmq-client's own close-on-timeout leaves close() pending forever.
    await connection.onConnect(5_000, true);
  } catch (error) {
    // Still connecting: close() stops the retries at once.
    await connection.close().catch(() => undefined);
    const where = new URL(url);
    throw new Error(
      `AMQP_URL is set but RabbitMQ is unreachable at ${where.hostname}:${where.port || 5672}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  await connection.close();
}

/** As for RabbitMQ: a configured but unreachable Redis fails the run, it never skips. */
async function assertRedisReachable(url: string | undefined) {
  if (!url) throw new Error("the redis test project needs REDIS_URL");
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3_000,
    commandTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const where = new URL(url);
    throw new Error(
      `REDIS_URL is set but Redis is unreachable at ${where.hostname}:${where.port || 6379}: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    client.disconnect();
  }
}

async function setupPostgres(project: TestProject, runId: string) {
  const url = process.env["DATABASE_URL"];
  if (!url) throw new Error("the postgres test project needs DATABASE_URL");
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `DATABASE_URL is set but PostgreSQL is unreachable: ${(error as Error).message}`,
    );
  }
  const template = `ventros_tpl_${runId}`;
  await admin.query(`create database ${template}`);
  const templateUrl = withDatabase(url, template);
  const database = openPostgresDatabase({
    connectionString: templateUrl,
    poolMax: 2,
    statementTimeoutMs: 30_000,
    connectTimeoutMs: 5_000,
    logger: createLogger("silent"),
  });
  await prepare(database);
  await database.close();
  project.provide("postgresTemplateUrl", templateUrl);
  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      "select datname from pg_database where datname like $1",
      [`ventros_%${runId}%`],
    );
    for (const { datname } of rows)
      await admin.query(`drop database if exists ${datname} with (force)`);
    await admin.end();
  };
}
