import pg from "pg";
import { compose, type App } from "../src/compose.ts";
import { loadConfig } from "../src/config.ts";
import type { Database } from "../src/platform/db/database.ts";
import { createLogger } from "../src/platform/logger.ts";

export interface BenchApp {
  app: App;
  apiKey: string;
}

/**
 * The app as main.ts builds it, but silent (by default) and loopback-only, and with rate
 * limits far above what the benchmark sends (one key makes every request).
 */
export async function startBenchApp(
  logLevel: string,
  env: { DATABASE_URL?: string; DATABASE_POOL_MAX?: string | undefined },
  database?: Database,
): Promise<BenchApp> {
  const config = loadConfig({
    NODE_ENV: "production",
    LOG_LEVEL: logLevel,
    HOST: "127.0.0.1",
    PORT: "0",
    RATE_LIMIT_PER_KEY_PER_MINUTE: "1000000",
    RATE_LIMIT_PER_IP_PER_MINUTE: "1000000",
    ...env,
  });
  const lines: string[] = [];
  const app = await compose(config, {
    ...(database ? { database } : {}),
    logger: createLogger(config.LOG_LEVEL),
    announce: (line) => lines.push(line),
  });
  try {
    await app.start();
  } catch (error) {
    await app.stop().catch(() => undefined);
    throw error;
  }
  const apiKey = lines.map((l) => /^Admin API key: (\S+)$/.exec(l)?.[1]).find(Boolean);
  if (!apiKey) {
    await app.stop();
    throw new Error("the app did not announce an admin API key on a fresh database");
  }
  return { app, apiKey };
}

const withDatabase = (url: string, name: string) => {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
};

async function adminQuery(serverUrl: string, text: string): Promise<void> {
  const run = async (url: string) => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  try {
    await run(serverUrl);
  } catch (error) {
    // The URL may name a database that does not exist yet; the server still has "postgres".
    if ((error as { code?: unknown }).code !== "3D000") throw error;
    await run(withDatabase(serverUrl, "postgres"));
  }
}

/** A fresh, empty database on the server DATABASE_URL points at; drop() removes it. */
export async function createBenchDatabase(serverUrl: string) {
  const name = `ventros_bench_${process.pid}`;
  await adminQuery(serverUrl, `create database ${name}`);
  return {
    name,
    url: withDatabase(serverUrl, name),
    drop: () => adminQuery(serverUrl, `drop database if exists ${name} with (force)`),
  };
}
