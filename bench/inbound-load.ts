import { Worker } from "node:worker_threads";
import type { InboundLoadRequest, InboundLoadResult } from "./inbound-load-worker.ts";

const workerUrl = new URL("./inbound-load-worker.ts", import.meta.url).href;
// As in socket-load.ts: workers do not inherit the tsx loader, so load the entry through tsx.
const bootstrap = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
  .then(({ tsImport }) => tsImport(${JSON.stringify(workerUrl)}, ${JSON.stringify(workerUrl)}))`;

/**
 * Posts signed WAHA events from a worker thread, so the load generator (JSON, HMAC,
 * HTTP client) has its own event loop and does not steal turns from the server.
 */
export function runInboundLoad(
  request: InboundLoadRequest,
  signal: AbortSignal,
): Promise<InboundLoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrap, { eval: true, workerData: request });
    const abort = () => void worker.terminate();
    signal.addEventListener("abort", abort, { once: true });
    let settled = false;
    worker.once("message", (result: InboundLoadResult) => {
      settled = true;
      resolve(result);
    });
    worker.once("error", (error) => {
      settled = true;
      reject(error);
    });
    worker.once("exit", (code) => {
      signal.removeEventListener("abort", abort);
      if (!settled) reject(new Error(`inbound load worker exited with code ${code}`));
    });
  });
}
