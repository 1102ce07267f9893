import { Worker } from "node:worker_threads";
import type { LoadResult } from "./load.ts";
import type { SocketLoadRequest } from "./socket-load-worker.ts";

const workerUrl = new URL("./socket-load-worker.ts", import.meta.url).href;
// Workers do not inherit the tsx loader that `node --import tsx` registered, so the
// worker loads its TypeScript entry through tsx's API.
const bootstrap = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
  .then(({ tsImport }) => tsImport(${JSON.stringify(workerUrl)}, ${JSON.stringify(workerUrl)}))`;

/**
 * Drives the listening server from a worker thread, so the load generator has its own
 * event loop and does not steal turns from the server it measures.
 */
export function runSocketLoad(
  request: SocketLoadRequest,
  signal?: AbortSignal,
): Promise<LoadResult & { createdIds: string[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrap, { eval: true, workerData: request });
    const abort = () => void worker.terminate();
    signal?.addEventListener("abort", abort, { once: true });
    let settled = false;
    worker.once("message", (result: LoadResult & { createdIds: string[] }) => {
      settled = true;
      resolve(result);
    });
    worker.once("error", (error) => {
      settled = true;
      reject(error);
    });
    worker.once("exit", (code) => {
      signal?.removeEventListener("abort", abort);
      if (!settled) reject(new Error(`socket load worker exited with code ${code}`));
    });
  });
}
