import { contactBody, type PhoneSeries, phoneSequence } from "./contact-traffic.ts";
import type { Operation } from "./load.ts";

/** One HTTP exchange with the API key already attached; in-process or over a socket. */
export type Send = (
  method: "GET" | "POST",
  path: string,
  body?: string,
) => Promise<{ status: number; body: string }>;

const failure = (what: string, status: number, body: string) =>
  new Error(`${what} answered ${status}: ${body.slice(0, 300)}`);

/** POST /v1/contacts with a fresh phone each time; records the ids it created. */
export function createContactOperation(
  send: Send,
  series: PhoneSeries,
  createdIds: string[],
): Operation {
  const nextPhone = phoneSequence(series);
  return async () => {
    const response = await send("POST", "/v1/contacts", JSON.stringify(contactBody(nextPhone())));
    if (response.status !== 201) throw failure("POST /v1/contacts", response.status, response.body);
    createdIds.push((JSON.parse(response.body) as { id: string }).id);
  };
}

/** GET /v1/contacts/:id of an existing contact. */
export function getContactOperation(send: Send, pickId: () => string): Operation {
  return async () => {
    const response = await send("GET", `/v1/contacts/${pickId()}`);
    if (response.status !== 200)
      throw failure("GET /v1/contacts/:id", response.status, response.body);
  };
}
