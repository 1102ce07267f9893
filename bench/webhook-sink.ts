import { Worker } from "node:worker_threads";

const workerUrl = new URL("./webhook-receiver-worker.ts", import.meta.url).href;
// Workers do not inherit the tsx loader: load the TypeScript entry through tsx's API.
const bootstrap = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
  .then(({ tsImport }) => tsImport(${JSON.stringify(workerUrl)}, ${JSON.stringify(workerUrl)}))`;

export interface SinkStats {
  received: number;
  distinct: number;
  latenciesMs: number[];
  firstAt: number;
  lastAt: number;
}

/** The bench's webhook receiver, on its own thread so it does not compete with the app's loop. */
export async function startWebhookSink() {
  const worker = new Worker(bootstrap, { eval: true });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      worker.once("error", fail);
      worker.once("message", (message: T) => {
        worker.off("error", fail);
        resolve(message);
      });
    });
  const { port } = await next<{ port: number }>();
  const ask = async <T>(cmd: string) => {
    const answer = next<T>();
    worker.postMessage({ cmd });
    return answer;
  };
  return {
    url: (path = "/hooks") => `http://127.0.0.1:${port}${path}`,
    origin: `http://127.0.0.1:${port}`,
    stats: () => ask<SinkStats>("stats"),
    reset: () => ask<{ ok: true }>("reset"),
    async close() {
      await ask("close");
      await worker.terminate();
    },
  };
}

export type WebhookSink = Awaited<ReturnType<typeof startWebhookSink>>;
