import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "undici";
import { randomPick, type PhoneSeries } from "./contact-traffic.ts";
import { createContactOperation, getContactOperation, type Send } from "./http-operations.ts";
import { measure, type LoadPlan } from "./load.ts";

/** What the main thread asks of this worker (see socket-load.ts). */
export interface SocketLoadRequest {
  origin: string;
  apiKey: string;
  operation: "create" | "get";
  ids: string[];
  series: PhoneSeries;
  plan: Omit<LoadPlan, "signal">;
}

const request = workerData as SocketLoadRequest;
// One keep-alive connection per concurrent caller, no pipelining: what a client pool does.
const pool = new Pool(request.origin, {
  connections: request.plan.concurrency,
  pipelining: 1,
});
const headers = { authorization: `Bearer ${request.apiKey}` };
const send: Send = async (method, path, body) => {
  const response = await pool.request({
    method,
    path,
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.statusCode, body: await response.body.text() };
};

const createdIds: string[] = [];
const operation =
  request.operation === "create"
    ? createContactOperation(send, request.series, createdIds)
    : getContactOperation(send, randomPick(request.ids));
const result = await measure(operation, request.plan);
await pool.close();
parentPort?.postMessage({ ...result, createdIds });
