/**
 * A child process for the "killed between commit and publish" test:
 *
 *   node --import tsx test/support/crash-producer.ts <count>
 *
 * It composes the app from its environment (DATABASE_URL or DATA_DIR, AMQP_URL,
 * AMQP_PREFIX) with the outbox relay kept stopped, creates <count> contacts through the
 * HTTP layer (so their events are committed to the outbox and never published), prints
 * one JSON line `{"key": ..., "ids": [...]}` and then waits to be killed.
 */
import { compose } from "../../src/compose.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/platform/logger.ts";

const count = Number(process.argv[2] ?? "3");
const lines: string[] = [];
const config = loadConfig({ ...process.env, NODE_ENV: "test", LOG_LEVEL: "silent" });
const app = await compose(config, {
  relay: false,
  logger: createLogger("silent"),
  announce: (line) => lines.push(line),
});
await app.start();
const key = lines.map((l) => /^Admin API key: (\S+)$/.exec(l)?.[1]).find(Boolean);
if (!key) throw new Error("crash-producer: bootstrap did not print an admin key");

const ids: string[] = [];
for (let i = 0; i < count; i++) {
  const response = await app.server.inject({
    method: "POST",
    url: "/v1/contacts",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    payload: JSON.stringify({
      name: `Crash victim ${i}`,
      phone: `55119700${String(i).padStart(5, "0")}`,
    }),
  });
  if (response.statusCode !== 201)
    throw new Error(`crash-producer: create answered ${response.statusCode}: ${response.body}`);
  ids.push((JSON.parse(response.body) as { id: string }).id);
}
process.stdout.write(`${JSON.stringify({ key, ids })}\n`);
// Stay alive, holding the broker connection and the database, until SIGKILL.
setInterval(() => undefined, 60_000);
