/**
 * A child process for the "killed mid-delivery" test:
 *
 *   node --import tsx test/support/webhook-crash-child.ts <receiver url>
 *
 * It composes the app from its environment (DATABASE_URL or DATA_DIR, WEBHOOK_*),
 * creates a webhook endpoint for <receiver url> and a contact (whose contact.created
 * event is delivered to it), prints one JSON line `{"key", "endpointId", "secret"}` and
 * waits to be killed while the delivery is in flight.
 */
import { compose } from "../../src/compose.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/platform/logger.ts";

const url = process.argv[2]!;
const lines: string[] = [];
const config = loadConfig({ ...process.env, NODE_ENV: "test", LOG_LEVEL: "silent" });
const app = await compose(config, {
  logger: createLogger("silent"),
  announce: (line) => lines.push(line),
});
await app.start();
const key = lines.map((l) => /^Admin API key: (\S+)$/.exec(l)?.[1]).find(Boolean);
if (!key) throw new Error("webhook-crash-child: bootstrap did not print an admin key");

const post = async (path: string, body: unknown) => {
  const response = await app.server.inject({
    method: "POST",
    url: path,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    payload: JSON.stringify(body),
  });
  if (response.statusCode !== 201)
    throw new Error(
      `webhook-crash-child: ${path} answered ${response.statusCode}: ${response.body}`,
    );
  return JSON.parse(response.body) as Record<string, string>;
};
const endpoint = await post("/v1/webhook-endpoints", { url, eventTypes: ["contact.created"] });
process.stdout.write(
  `${JSON.stringify({ key, endpointId: endpoint["id"], secret: endpoint["secret"] })}\n`,
);
await post("/v1/contacts", { name: "Killed mid-delivery" });
// Stay alive, holding the delivery open, until SIGKILL.
setInterval(() => undefined, 60_000);
