import type { BenchApp } from "./bench-app.ts";
import { contactBody, phoneSequence, randomPick } from "./contact-traffic.ts";
import { createContactOperation, getContactOperation, type Send } from "./http-operations.ts";
import { measure, type LoadPlan, type LoadResult } from "./load.ts";
import type { RawDriver } from "./raw-driver.ts";
import { skippedRow, toRow, type Backend, type ResultRow, type RowKey } from "./report.ts";
import { runSocketLoad } from "./socket-load.ts";

export interface BackendRun {
  backend: Backend;
  bench: BenchApp;
  raw: RawDriver;
  plan: LoadPlan;
  progress: (message: string) => void;
}

/**
 * The six measurements of one backend, in order: raw insert and select (the baseline),
 * then create and get in-process (inject), then the same over a loopback socket. Reads
 * pick among the contacts the writes before them created.
 */
export async function measureBackend(run: BackendRun): Promise<ResultRow[]> {
  const { backend, bench, raw, plan, progress } = run;
  const { concurrency, signal } = plan;
  const rows: ResultRow[] = [];
  const step = async (
    key: Omit<RowKey, "backend" | "concurrency">,
    label: string,
    load: () => Promise<LoadResult>,
    rawRps?: number,
  ) => {
    if (signal?.aborted) throw new Error("interrupted");
    progress(`${backend}: ${label} (concurrency ${concurrency})`);
    const row = toRow({ ...key, backend, concurrency }, await load(), rawRps);
    rows.push(row);
    return row;
  };
  // A read needs something to read: when every write failed, say so instead of crashing.
  const readStep = async (
    key: Omit<RowKey, "backend" | "concurrency">,
    label: string,
    ids: string[],
    load: () => Promise<LoadResult>,
    rawRps: number,
  ) => {
    if (ids.length > 0) return step(key, label, load, rawRps);
    const row = skippedRow({ ...key, backend, concurrency }, "no contacts were created to read");
    rows.push(row);
    return row;
  };

  const rawIds: string[] = [];
  const nextPhone = phoneSequence(1);
  const insert = await step({ operation: "insert", mode: "raw driver" }, "raw insert", () =>
    measure(async () => {
      rawIds.push(await raw.insertContact(contactBody(nextPhone())));
    }, plan),
  );
  const select = await readStep(
    { operation: "select", mode: "raw driver" },
    "raw select by id",
    rawIds,
    () => {
      const pick = randomPick(rawIds);
      return measure(() => raw.selectContact(pick()), plan);
    },
    Number.NaN,
  );

  const ids: string[] = [];
  const inject = injector(bench);
  await step(
    { operation: "create", mode: "inject" },
    "inject POST /v1/contacts",
    () => measure(createContactOperation(inject, 2, ids), plan),
    insert.rps,
  );
  await readStep(
    { operation: "get", mode: "inject" },
    "inject GET /v1/contacts/:id",
    ids,
    () => measure(getContactOperation(inject, randomPick(ids)), plan),
    select.rps,
  );

  const origin = await bench.app.server.listen({ host: "127.0.0.1", port: 0 });
  const socketPlan = { concurrency, warmupMs: plan.warmupMs, durationMs: plan.durationMs };
  const { apiKey } = bench;
  await step(
    { operation: "create", mode: "socket" },
    `socket POST /v1/contacts on ${origin}`,
    async () => {
      const request = { origin, apiKey, operation: "create" as const, ids: [], series: 3 as const };
      const result = await runSocketLoad({ ...request, plan: socketPlan }, signal);
      ids.push(...result.createdIds);
      return result;
    },
    insert.rps,
  );
  await readStep(
    { operation: "get", mode: "socket" },
    "socket GET /v1/contacts/:id",
    ids,
    () =>
      runSocketLoad({ origin, apiKey, operation: "get", ids, series: 4, plan: socketPlan }, signal),
    select.rps,
  );
  return rows;
}

/** Requests through `app.server.inject`: the whole Fastify stack without a socket. */
function injector({ app, apiKey }: BenchApp): Send {
  const auth = { authorization: `Bearer ${apiKey}` };
  return async (method, url, body) => {
    const response = await app.server.inject({
      method,
      url,
      headers: body === undefined ? auth : { ...auth, "content-type": "application/json" },
      ...(body === undefined ? {} : { payload: body }),
    });
    return { status: response.statusCode, body: response.body };
  };
}
