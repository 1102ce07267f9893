import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "undici";
import { measure, type LoadPlan } from "./load.ts";
import { zipfPick } from "./zipf.ts";

/** What the main thread asks of this worker (see cache-bench.ts). */
export interface CacheLoadRequest {
  origin: string;
  apiKey: string;
  /** Contact ids in popularity order: the first is rank 1. */
  ids: string[];
  zipfS: number;
  plan: Omit<LoadPlan, "signal">;
}

/**
 * GET /v1/contacts/:id with Zipf-distributed ids over keep-alive connections (one per
 * concurrent caller, no pipelining), in a thread of its own so the load generator does
 * not compete with the server for its event loop.
 */
const request = workerData as CacheLoadRequest;
const pool = new Pool(request.origin, { connections: request.plan.concurrency, pipelining: 1 });
const headers = { authorization: `Bearer ${request.apiKey}` };
const pick = zipfPick(request.ids, request.zipfS);
const result = await measure(async () => {
  const response = await pool.request({ method: "GET", path: `/v1/contacts/${pick()}`, headers });
  const body = await response.body.text();
  if (response.statusCode !== 200)
    throw new Error(`GET /v1/contacts/:id answered ${response.statusCode}: ${body.slice(0, 200)}`);
}, request.plan);
await pool.close();
parentPort?.postMessage(result);
