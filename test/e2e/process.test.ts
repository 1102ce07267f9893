import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { withDatabase } from "../support/backends.ts";
import { backend } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * The real server as operators run it (`node --import tsx src/main.ts`), over real HTTP
 * on loopback: first-start bootstrap, restart on the same data, SIGTERM, bad config.
 * The child runs in a temporary working directory with an environment built from
 * scratch, so neither a developer's `.env` nor the test runner's variables leak in.
 */

const root = fileURLToPath(new URL("../..", import.meta.url));
const tsxLoader = pathToFileURL(join(root, "node_modules/tsx/dist/loader.mjs")).href;
const mainTs = join(root, "src/main.ts");
const START_MS = 60_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;
const KEY_LINE = /^Admin API key: (vtr_\S+)$/;

interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when the process has exited and its output is fully read. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
let workDir: string;
let dataDir: string;
let databaseUrl: string | undefined;
let dropDatabase = async () => {};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function startServer(env: Record<string, string>): ServerProcess {
  let out = "";
  let err = "";
  const port = env["PORT"] ?? "0";
  const child = spawn(process.execPath, ["--import", tsxLoader, mainTs], {
    cwd: workDir,
    env: {
      PATH: process.env["PATH"] ?? "",
      TSX_TSCONFIG_PATH: join(root, "tsconfig.json"),
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      DATA_DIR: dataDir,
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    baseUrl: `http://127.0.0.1:${port}`,
    stdout: () => out,
    stderr: () => err,
    closed,
  };
}

/** Waits for the process to exit, failing (and killing it) past the deadline. */
async function exitOf(server: ServerProcess, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      server.child.kill("SIGKILL");
      reject(new Error(`process did not exit within ${timeoutMs} ms\n${server.stderr()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([server.closed, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function startAndWaitUntilLive(): Promise<ServerProcess> {
  const server = startServer({ PORT: String(await freePort()) });
  let exited = false;
  void server.closed.then(() => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error(`server exited early:\n${server.stderr()}${server.stdout()}`);
      const res = await fetch(`${server.baseUrl}/health/live`, {
        signal: AbortSignal.timeout(2_000),
      });
      return res.status === 200;
    },
    START_MS,
    { intervalMs: 200, what: "the server to listen" },
  );
  return server;
}

const getProject = (server: ServerProcess, key: string) =>
  fetch(`${server.baseUrl}/v1/project`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(10_000),
  });

const keyLines = (stdout: string) =>
  stdout.split("\n").filter((line) => line.includes("Admin API key"));

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "ventros-e2e-"));
  dataDir = join(workDir, "data");
  if (backend === "postgres") {
    const templateUrl = inject("postgresTemplateUrl");
    const template = new URL(templateUrl).pathname.slice(1);
    const name = `ventros_e2e_${inject("runId")}_${process.pid}`;
    const adminUrl = withDatabase(templateUrl, "postgres");
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database ${name} template ${template}`);
    await admin.end();
    databaseUrl = withDatabase(templateUrl, name);
    dropDatabase = async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    };
  }
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await waitFor(() => children.size === 0, 10_000, { what: "children to exit" }).catch(
    () => undefined,
  );
  await dropDatabase();
  rmSync(workDir, { recursive: true, force: true });
});

describe(`server process (${backend})`, () => {
  let adminKey = "";

  it("prints the admin key once on first start; it works over HTTP; SIGTERM exits 0", async () => {
    const server = await startAndWaitUntilLive();
    const line = await waitFor(
      () =>
        server
          .stdout()
          .split("\n")
          .find((l) => KEY_LINE.test(l)),
      START_MS,
      { what: "the admin key line" },
    );
    adminKey = KEY_LINE.exec(line)![1]!;

    const project = await getProject(server, adminKey);
    expect(project.status).toBe(200);
    expect(((await project.json()) as { id?: unknown }).id).toEqual(expect.any(String));
    expect((await getProject(server, "vtr_not-a-real-key")).status).toBe(401);

    // SIGTERM right after a request completed (its keep-alive socket still open): the
    // process drains and exits 0 before its own forced exit (code 1) would fire.
    server.child.kill("SIGTERM");
    const exit = await exitOf(server, SHUTDOWN_TIMEOUT_MS);
    expect(exit).toEqual({ code: 0, signal: null });

    const stdout = server.stdout();
    expect(keyLines(stdout)).toEqual([`Admin API key: ${adminKey}`]);
    // The key is shown on its line only, never echoed by a log line.
    expect(stdout.split(adminKey)).toHaveLength(2);
  }, 120_000);

  it("restarts on the same data without printing a key, and the old key still works", async () => {
    expect(adminKey).toMatch(/^vtr_/);
    const server = await startAndWaitUntilLive();
    expect((await getProject(server, adminKey)).status).toBe(200);

    server.child.kill("SIGTERM");
    expect(await exitOf(server, SHUTDOWN_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
    expect(keyLines(server.stdout())).toEqual([]);
  }, 120_000);

  it("refuses an invalid configuration with exit code 1, listing every problem at once", async () => {
    const server = startServer({ PORT: "abc", LOG_LEVEL: "loud" });
    const exit = await exitOf(server, START_MS);
    expect(exit).toEqual({ code: 1, signal: null });

    const stderr = server.stderr();
    expect(stderr).toContain("Invalid configuration");
    expect(stderr).toMatch(/PORT/);
    expect(stderr).toMatch(/LOG_LEVEL/);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(keyLines(server.stdout())).toEqual([]);
  }, 120_000);
});
