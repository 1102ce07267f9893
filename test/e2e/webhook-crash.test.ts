import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { afterAll, expect, it } from "vitest";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { crashDatabase } from "../support/crash-database.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * SIGKILL while a delivery is in flight: the claim's lease runs out, the restarted
 * instance records the lost attempt as interrupted and delivers the message again with
 * the same webhook-id (receivers deduplicate on it), verified by the official verifier.
 */

const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_TARGETS: "127.0.0.1",
  WEBHOOK_POLL_INTERVAL_MS: "50",
  // The lease is twice the attempt budget: 4 s until the lost claim is taken again.
  WEBHOOK_TIMEOUT_MS: "2000",
  // Both processes must open the endpoint's sealed secret.
  ENCRYPTION_KEY: randomBytes(32).toString("base64"),
};

let child: ChildProcess | undefined;
let t: TestApp | undefined;
let receiver: WebhookReceiver | undefined;
let database: Awaited<ReturnType<typeof crashDatabase>> | undefined;

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await t?.close();
  await receiver?.close();
  await database?.drop();
});

it("delivers after a SIGKILL mid-delivery and a restart, with the same webhook-id", async () => {
  receiver = await startWebhookReceiver();
  receiver.respond("/crash", { hang: true });
  database = await crashDatabase("whcrash");
  child = spawn(
    process.execPath,
    ["--import", "tsx", "test/support/webhook-crash-child.ts", receiver.url("/crash")],
    {
      cwd: process.cwd(),
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: process.env["HOME"] ?? "",
        ...WEBHOOK_ENV,
        ...database.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child!.once("exit", () => resolve()));
  const report = await new Promise<{ key: string; endpointId: string; secret: string }>(
    (resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child said nothing: ${stderr}`)), 60_000);
      createInterface({ input: child!.stdout! }).on("line", (line) => {
        try {
          resolve(JSON.parse(line));
          clearTimeout(timer);
        } catch {
          // not our line
        }
      });
      child!.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`child exited early (${code ?? signal}): ${stderr}`));
      });
    },
  );
  receiver.setSecrets([report.secret]);
  // The first attempt reached the receiver, which holds it open: kill the sender now.
  const [first] = await receiver.waitForRequests(1, { path: "/crash", timeoutMs: 30_000 });
  expect(first!.verifiedBy).toEqual([report.secret]);
  child.kill("SIGKILL");
  await exited;
  expect(child.signalCode).toBe("SIGKILL");

  t = await createTestApp(WEBHOOK_ENV, { existingDatabase: database.existing });
  const requests = await receiver.waitForRequests(2, { path: "/crash", timeoutMs: 30_000 });
  expect(requests[1]!.headers["webhook-id"]).toBe(first!.headers["webhook-id"]);
  expect(requests[1]!.verifiedBy).toEqual([report.secret]);
  expect(requests[1]!.rawBody).toBe(first!.rawBody);

  const api = client(t.app, report.key);
  const delivery = await waitFor(
    async () => {
      const page = await api.get(`/v1/webhook-endpoints/${report.endpointId}/deliveries`);
      return page.body.data[0]?.status === "succeeded" ? page.body.data[0] : undefined;
    },
    15_000,
    { what: "the delivery recorded as succeeded after the restart" },
  );
  expect(delivery.webhookId).toBe(first!.headers["webhook-id"]);
  expect(delivery.attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
    "interrupted",
    "succeeded",
  ]);
  expect(receiver.requests("/crash")).toHaveLength(2);
}, 120_000);
