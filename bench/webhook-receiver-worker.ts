import { createServer } from "node:http";
import { parentPort } from "node:worker_threads";

/**
 * A loopback webhook receiver on its own thread (see webhook-sink.ts): answers 204 at
 * once and keeps, per distinct webhook-id, when it first arrived and the event's
 * `timestamp` (its occurred_at), so event-to-first-attempt latency is measured where the
 * integrator would see it.
 */
let received = 0;
const first = new Map<string, { at: number; occurredAt: number }>();
const epochMs = () => performance.timeOrigin + performance.now();

const server = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const at = epochMs();
    received += 1;
    const id = String(request.headers["webhook-id"] ?? "");
    if (!first.has(id)) {
      let occurredAt = Number.NaN;
      try {
        occurredAt = Date.parse(
          (JSON.parse(Buffer.concat(chunks).toString()) as { timestamp: string }).timestamp,
        );
      } catch {
        // not a Ventros body (the raw baseline): no latency
      }
      first.set(id, { at, occurredAt });
    }
    response.writeHead(204).end();
  });
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  parentPort?.postMessage({ port: typeof address === "object" && address ? address.port : 0 });
});

parentPort?.on("message", (message: { cmd: "stats" | "reset" | "close" }) => {
  if (message.cmd === "reset") {
    received = 0;
    first.clear();
    parentPort?.postMessage({ ok: true });
  } else if (message.cmd === "stats") {
    const arrivals = [...first.values()];
    parentPort?.postMessage({
      received,
      distinct: first.size,
      latenciesMs: arrivals.map((a) => a.at - a.occurredAt).filter(Number.isFinite),
      firstAt: Math.min(...arrivals.map((a) => a.at)),
      lastAt: Math.max(...arrivals.map((a) => a.at)),
    });
  } else {
    server.closeAllConnections();
    server.close(() => parentPort?.postMessage({ closed: true }));
  }
});
