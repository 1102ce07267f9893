import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Webhook } from "standardwebhooks";
import { request as undiciRequest } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  newWebhookSecret,
  parseSignatureHeader,
  startWebhookReceiver,
  type ReceivedRequest,
  type WebhookReceiver,
} from "./webhook-receiver.ts";

// ---------------------------------------------------------------------------------------
// Helpers (every wait is bounded)
// ---------------------------------------------------------------------------------------

const OLD_SECRET = newWebhookSecret();
const NEW_SECRET = newWebhookSecret();
const USER_AGENT = "Ventros-Webhooks/0.1.0";

let msgCounter = 0;

/** A Standard Webhooks delivery signed with `new Webhook(secret).sign` for each secret. */
function signed(
  secrets: string[],
  data: Record<string, unknown> = { contactId: "c_1" },
  options: { date?: Date; id?: string } = {},
) {
  const date = options.date ?? new Date();
  const id = options.id ?? `msg_${++msgCounter}`;
  const body = JSON.stringify({ type: "contact.created", timestamp: date.toISOString(), data });
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
    "Webhook-Id": id,
    "Webhook-Timestamp": String(Math.floor(date.getTime() / 1000)),
    "Webhook-Signature": secrets.map((s) => new Webhook(s).sign(id, date, body)).join(" "),
  };
  return { body, headers };
}

function post(url: string, delivery: { body: string; headers: Record<string, string> }) {
  return fetch(url, {
    method: "POST",
    body: delivery.body,
    headers: delivery.headers,
    signal: AbortSignal.timeout(5_000),
  });
}

/** node:http with no connection reuse, to see socket-level errors (ECONNRESET, ECONNREFUSED). */
function rawPost(
  url: string,
  body = "{}",
  timeoutMs = 5_000,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: "POST", agent: false, headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

/** The socket-level code of a failed fetch / undici / node:http call. */
async function failureCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    const e = error as { code?: string; cause?: { code?: string } };
    return e.code ?? e.cause?.code;
  }
  throw new Error("expected the request to fail");
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ---------------------------------------------------------------------------------------
// Suite
// ---------------------------------------------------------------------------------------

let receiver: WebhookReceiver;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secrets: [OLD_SECRET] });
});

afterEach(async () => {
  await receiver.close();
});

describe("webhook receiver: listening", () => {
  it("listens on 127.0.0.1 with an ephemeral port and builds URLs", () => {
    const url = new URL(receiver.url());
    expect(url.hostname).toBe("127.0.0.1");
    expect(Number(url.port)).toBeGreaterThan(0);
    expect(url.pathname).toBe("/hooks");
    expect(receiver.url("/tenant-a/hooks")).toBe(`${url.origin}/tenant-a/hooks`);
    expect(receiver.url("other")).toBe(`${url.origin}/other`);
    expect(receiver.listening).toBe(true);
  });
});

describe("webhook receiver: recording and verification", () => {
  it("records a signed delivery with lowercased headers, raw and parsed body; 204 by default", async () => {
    const delivery = signed([OLD_SECRET]);
    const response = await post(`${receiver.url()}?attempt=1`, delivery);
    expect(response.status).toBe(204);

    const [request] = await receiver.waitForRequests(1);
    expect(request).toMatchObject({
      seq: 1,
      method: "POST",
      path: "/hooks",
      url: "/hooks?attempt=1",
      rawBody: delivery.body,
      json: JSON.parse(delivery.body),
      verifiedBy: [OLD_SECRET],
      respondedWith: 204,
    });
    expect(request!.verifyError).toBeUndefined();
    expect(typeof request!.receivedAt).toBe("number");
    expect(request!.headers["webhook-id"]).toBe(delivery.headers["Webhook-Id"]);
    expect(request!.headers["webhook-timestamp"]).toBe(delivery.headers["Webhook-Timestamp"]);
    expect(request!.headers["user-agent"]).toBe(USER_AGENT);
    expect(Object.keys(request!.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(receiver.signaturesIn(request!)).toEqual([delivery.headers["Webhook-Signature"]]);
    expect(receiver.verifiesWith(request!, OLD_SECRET)).toBe(true);
    expect(receiver.verifiesWith(request!, NEW_SECRET)).toBe(false);
  });

  it("during a rotation verifies both signatures of the header, each on its own (undici)", async () => {
    receiver.setSecrets([OLD_SECRET, NEW_SECRET]);
    const delivery = signed([OLD_SECRET, NEW_SECRET]);
    const response = await undiciRequest(receiver.url(), {
      method: "POST",
      body: delivery.body,
      headers: delivery.headers,
    });
    await response.body.dump();
    expect(response.statusCode).toBe(204);

    const [request] = await receiver.waitForRequests(1);
    expect(request!.verifiedBy).toEqual([OLD_SECRET, NEW_SECRET]);
    const signatures = receiver.signaturesIn(request!);
    expect(signatures).toHaveLength(2);
    expect(signatures.every((s) => s.startsWith("v1,"))).toBe(true);
    // Each entry is valid for exactly one secret, and together they cover both.
    expect(request!.signatureChecks).toEqual([
      { signature: signatures[0], verifiedBy: [OLD_SECRET] },
      { signature: signatures[1], verifiedBy: [NEW_SECRET] },
    ]);
    expect(receiver.verifiesWith(request!, OLD_SECRET, signatures[0])).toBe(true);
    expect(receiver.verifiesWith(request!, NEW_SECRET, signatures[0])).toBe(false);
    expect(receiver.verifiesWith(request!, NEW_SECRET, signatures[1])).toBe(true);
  });

  it("catches a header where only one of two signatures is valid", async () => {
    receiver.setSecrets([OLD_SECRET, NEW_SECRET]);
    const delivery = signed([OLD_SECRET]);
    const bogus = new Webhook(NEW_SECRET).sign("some-other-id", new Date(), delivery.body);
    delivery.headers["Webhook-Signature"] += ` ${bogus}`;
    await post(receiver.url(), delivery);

    const [request] = await receiver.waitForRequests(1);
    // The official verify passes on any match: the old secret still verifies it...
    expect(request!.verifiedBy).toEqual([OLD_SECRET]);
    // ...but checking every entry shows the second signature is good for no secret.
    expect(request!.signatureChecks.map((c) => c.verifiedBy)).toEqual([[OLD_SECRET], []]);
    expect(
      receiver.signaturesIn(request!).every((s) => receiver.verifiesWith(request!, NEW_SECRET, s)),
    ).toBe(false);
  });

  it("setSecrets applies to later requests: the old secret alone no longer verifies", async () => {
    await post(receiver.url(), signed([OLD_SECRET]));
    receiver.setSecrets([NEW_SECRET]);
    await post(receiver.url(), signed([OLD_SECRET]));
    await post(receiver.url(), signed([NEW_SECRET]));

    const [before, after, rotated] = await receiver.waitForRequests(3);
    expect(before!.verifiedBy).toEqual([OLD_SECRET]);
    expect(after!.verifiedBy).toEqual([]);
    expect(after!.verifyError).toBe("No matching signature found");
    expect(rotated!.verifiedBy).toEqual([NEW_SECRET]);
    expect(receiver.secrets).toEqual([NEW_SECRET]);
    expect(() => receiver.setSecrets(["whsec_"])).toThrow();
  });

  it("records bad signatures, missing headers and stale timestamps as not verified", async () => {
    const tampered = signed([OLD_SECRET]);
    tampered.body = tampered.body.replace("c_1", "c_2");
    await post(receiver.url(), tampered);
    await post(receiver.url(), { body: "{}", headers: { "content-type": "application/json" } });
    const stale = signed([OLD_SECRET], {}, { date: new Date(Date.now() - 10 * 60_000) });
    await post(receiver.url(), stale);

    const [bad, unsigned, old] = await receiver.waitForRequests(3);
    expect(bad!.verifiedBy).toEqual([]);
    expect(bad!.verifyError).toBe("No matching signature found");
    expect(bad!.signatureChecks).toEqual([
      { signature: tampered.headers["Webhook-Signature"], verifiedBy: [] },
    ]);
    expect(bad!.respondedWith).toBe(204); // verification records, it does not answer
    expect(unsigned!.verifyError).toBe("Missing required headers");
    expect(receiver.signaturesIn(unsigned!)).toEqual([]);
    expect(old!.verifyError).toBe("Message timestamp too old");
  });

  it("verifies a non-JSON body by its signature; json stays undefined", async () => {
    const id = "msg_text";
    const date = new Date();
    await post(receiver.url(), {
      body: "not json",
      headers: {
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(date.getTime() / 1000)),
        "webhook-signature": new Webhook(OLD_SECRET).sign(id, date, "not json"),
      },
    });
    const [request] = await receiver.waitForRequests(1);
    expect(request!.rawBody).toBe("not json");
    expect(request!.json).toBeUndefined();
    expect(request!.verifiedBy).toEqual([OLD_SECRET]);
  });

  it("says so when no secrets are configured", async () => {
    receiver.setSecrets([]);
    await post(receiver.url(), signed([OLD_SECRET]));
    const [request] = await receiver.waitForRequests(1);
    expect(request!.verifiedBy).toEqual([]);
    expect(request!.verifyError).toBe("no secrets configured");
    expect(receiver.verifiesWith(request!, OLD_SECRET)).toBe(true);
  });

  it("parses signature headers with extra spaces", () => {
    expect(parseSignatureHeader("v1,a  v1,b ")).toEqual(["v1,a", "v1,b"]);
    expect(parseSignatureHeader(undefined)).toEqual([]);
  });
});

describe("webhook receiver: scripted answers", () => {
  it("consumes queued statuses one per request, then falls back to the default", async () => {
    receiver
      .respond(
        "/hooks",
        { status: 500 },
        { status: 503, headers: { "retry-after": "7" } },
        { status: 429, headers: { "retry-after": "3" } },
        { status: 410 },
        { status: 200, body: { ok: true } },
      )
      .otherwise("/hooks", { status: 202, body: "accepted" });

    const seen: Array<{ status: number; retryAfter: string | null; body: string }> = [];
    for (let i = 0; i < 7; i++) {
      const response = await post(receiver.url(), signed([OLD_SECRET]));
      seen.push({
        status: response.status,
        retryAfter: response.headers.get("retry-after"),
        body: await response.text(),
      });
    }
    expect(seen).toEqual([
      { status: 500, retryAfter: null, body: "" },
      { status: 503, retryAfter: "7", body: "" },
      { status: 429, retryAfter: "3", body: "" },
      { status: 410, retryAfter: null, body: "" },
      { status: 200, retryAfter: null, body: '{"ok":true}' },
      { status: 202, retryAfter: null, body: "accepted" },
      { status: 202, retryAfter: null, body: "accepted" },
    ]);
    expect(receiver.requests().map((r) => r.respondedWith)).toEqual([
      500, 503, 429, 410, 200, 202, 202,
    ]);
    expect(receiver.pending("/hooks")).toEqual([]);
  });

  it("scripts paths independently; '*' covers paths without their own script", async () => {
    receiver.respond("/a", { status: 500 });
    receiver.otherwise("*", { status: 200 });
    expect((await post(receiver.url("/b"), signed([OLD_SECRET]))).status).toBe(200);
    expect((await post(receiver.url("/a"), signed([OLD_SECRET]))).status).toBe(500);
    expect((await post(receiver.url("/a"), signed([OLD_SECRET]))).status).toBe(200);
    expect(receiver.requests("/a").map((r) => r.respondedWith)).toEqual([500, 200]);
    expect(receiver.requests("/b")).toHaveLength(1);
    expect(receiver.requests()).toHaveLength(3);
    expect(receiver.requests().map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it("answers redirects with a location on the same receiver, so following shows up", async () => {
    const target = receiver.url("/elsewhere");
    receiver.respond(
      "/hooks",
      { status: 301, headers: { location: target } },
      { status: 302, headers: { location: target } },
      { status: 307, headers: { location: target } },
    );
    for (const status of [301, 302, 307]) {
      const response = await fetch(receiver.url(), {
        method: "POST",
        body: "{}",
        redirect: "manual",
        signal: AbortSignal.timeout(5_000),
      });
      expect(response.status).toBe(status);
      expect(response.headers.get("location")).toBe(target);
    }
    expect(receiver.requests("/elsewhere")).toEqual([]);

    // A client that follows redirects is caught: the target records the request.
    receiver.respond("/hooks", { status: 307, headers: { location: target } });
    const followed = await fetch(receiver.url(), {
      method: "POST",
      body: "{}",
      signal: AbortSignal.timeout(5_000),
    });
    expect(followed.status).toBe(204);
    expect(receiver.requests("/elsewhere")).toHaveLength(1);
  });

  it("delays an answer; the request is recorded as pending meanwhile", async () => {
    receiver.respond("/hooks", { delayMs: 20, then: { status: 201 } });
    expect((await post(receiver.url(), signed([OLD_SECRET]))).status).toBe(201);
    expect(receiver.requests()[0]!.respondedWith).toBe(201);

    receiver.respond("/hooks", { delayMs: 60_000, then: { status: 200 } });
    const controller = new AbortController();
    const slow = fetch(receiver.url(), { method: "POST", body: "{}", signal: controller.signal });
    const [, pending] = await receiver.waitForRequests(2);
    expect(pending!.respondedWith).toBe("pending");
    // The client gives up before the answer: recorded as aborted.
    controller.abort();
    await expect(slow).rejects.toThrow();
    await waitUntil(() => pending!.respondedWith === "aborted", "the abort to be recorded");
  });

  it("hangs until close(), which destroys the socket", async () => {
    const own = await startWebhookReceiver();
    try {
      own.respond("/hooks", { hang: true });
      const hanging = failureCode(rawPost(own.url(), "{}", 30_000));
      const [request] = await own.waitForRequests(1);
      expect(request!.respondedWith).toBe("hang");
      await own.close();
      expect(await hanging).toBe("ECONNRESET"); // "socket hang up"
      expect(request!.respondedWith).toBe("hang");
    } finally {
      await own.close();
    }
  });

  it("resets the connection without answering", async () => {
    receiver.respond("/hooks", { reset: true });
    expect(await failureCode(rawPost(receiver.url()))).toBe("ECONNRESET");
    expect(receiver.requests()[0]!.respondedWith).toBe("reset");
    // The receiver carries on.
    expect((await rawPost(receiver.url())).status).toBe(204);
  });

  it("serves large bodies, with or without content-length", async () => {
    const size = 3 * 1024 * 1024 + 17;
    receiver.respond(
      "/hooks",
      { status: 200, bodyBytes: size },
      { status: 200, bodyBytes: size, chunked: true },
      { status: 200, bodyBytes: 64 * 1024 * 1024 },
    );
    const sized = await post(receiver.url(), signed([OLD_SECRET]));
    expect(sized.headers.get("content-length")).toBe(String(size));
    expect((await sized.arrayBuffer()).byteLength).toBe(size);

    const chunked = await post(receiver.url(), signed([OLD_SECRET]));
    expect(chunked.headers.get("content-length")).toBeNull();
    expect((await chunked.arrayBuffer()).byteLength).toBe(size);

    // A client that stops reading early (a capped reader) leaves the receiver fine.
    const huge = await post(receiver.url(), signed([OLD_SECRET]));
    const reader = huge.body!.getReader();
    let read = 0;
    while (read < 256 * 1024) {
      const { value, done } = await reader.read();
      if (done) break;
      read += value.byteLength;
    }
    await reader.cancel();
    expect(read).toBeGreaterThanOrEqual(256 * 1024);
    expect(receiver.requests().map((r) => r.respondedWith)).toEqual([200, 200, 200]);
    expect((await post(receiver.url(), signed([OLD_SECRET]))).status).toBe(204);
  });

  it("goes down on { down: true }: that connection resets, the port refuses until restart()", async () => {
    const url = receiver.url();
    receiver.respond("/hooks", { down: true });
    expect(await failureCode(rawPost(url))).toBe("ECONNRESET");
    expect(receiver.requests()[0]!.respondedWith).toBe("down");
    await waitUntil(() => !receiver.listening, "the receiver to stop listening");
    expect(await failureCode(rawPost(url))).toBe("ECONNREFUSED");
    expect(await failureCode(post(url, signed([OLD_SECRET])))).toBe("ECONNREFUSED");

    await receiver.restart();
    expect(receiver.url()).toBe(url);
    expect((await post(url, signed([OLD_SECRET]))).status).toBe(204);
    expect(receiver.requests().map((r) => r.respondedWith)).toEqual(["down", 204]);
  });

  it("comes back by itself with { down: true, upAfterMs }", async () => {
    receiver.respond("/hooks", { down: true, upAfterMs: 50 });
    expect(await failureCode(rawPost(receiver.url()))).toBe("ECONNRESET");
    await waitUntil(() => receiver.listening, "the receiver to come back up");
    expect((await rawPost(receiver.url())).status).toBe(204);
  });

  it("rejects what is not a behaviour", () => {
    expect(() => receiver.respond("/hooks", { status: 42 })).toThrow(/not a behaviour/);
    expect(() => receiver.otherwise("/hooks", {} as never)).toThrow(/not a behaviour/);
    expect(() => receiver.respond("/hooks", { delayMs: 5, then: { nope: true } as never })).toThrow(
      /not a behaviour/,
    );
  });
});

describe("webhook receiver: stop and restart", () => {
  it("refuses connections while stopped, pooled ones included, and restarts on the same port", async () => {
    const url = receiver.url();
    // Pooled keep-alive connections exist for both fetch and undici now.
    expect((await post(url, signed([OLD_SECRET]))).status).toBe(204);
    await (await undiciRequest(url, { method: "POST", body: "{}" })).body.dump();

    await receiver.stop();
    expect(receiver.listening).toBe(false);
    expect(await failureCode(rawPost(url))).toBe("ECONNREFUSED");
    const viaFetch = await failureCode(post(url, signed([OLD_SECRET])));
    const viaUndici = await failureCode(undiciRequest(url, { method: "POST", body: "{}" }));
    // A stale pooled socket fails as closed/reset; a fresh connection is refused.
    for (const code of [viaFetch, viaUndici]) {
      expect(["ECONNREFUSED", "ECONNRESET", "UND_ERR_SOCKET"]).toContain(code);
    }
    expect(receiver.requests()).toHaveLength(2);

    await receiver.restart();
    expect(receiver.listening).toBe(true);
    expect(receiver.url()).toBe(url);
    expect((await post(url, signed([OLD_SECRET]))).status).toBe(204);
    expect(receiver.requests()).toHaveLength(3);
    expect(receiver.requests()[2]!.verifiedBy).toEqual([OLD_SECRET]);
  });

  it("stop() drops hanging requests", async () => {
    receiver.respond("/hooks", { hang: true });
    const hanging = failureCode(rawPost(receiver.url(), "{}", 30_000));
    await receiver.waitForRequests(1);
    await receiver.stop();
    expect(await hanging).toBe("ECONNRESET");
  });

  it("restart() after close() is an error", async () => {
    const own = await startWebhookReceiver();
    await own.close();
    await expect(own.restart()).rejects.toThrow(/closed/);
    await own.close(); // idempotent
  });
});

describe("webhook receiver: helpers", () => {
  it("waitForRequests resolves once n requests to the path arrived", async () => {
    const waiting = receiver.waitForRequests(2, { path: "/b" });
    await post(receiver.url("/a"), signed([OLD_SECRET]));
    await post(receiver.url("/b"), signed([OLD_SECRET]));
    await post(receiver.url("/b"), signed([OLD_SECRET]));
    const requests: ReceivedRequest[] = await waiting;
    expect(requests.map((r) => [r.seq, r.path])).toEqual([
      [2, "/b"],
      [3, "/b"],
    ]);
  });

  it("waitForRequests times out with a message listing what arrived", async () => {
    receiver.respond("/hooks", { status: 500 });
    await post(receiver.url(), signed([OLD_SECRET]));
    await post(receiver.url("/other"), { body: "{}", headers: {} });

    const error = await receiver.waitForRequests(2, { path: "/hooks", timeoutMs: 50 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toContain("timed out after 50 ms waiting for 2 request(s) to /hooks");
    expect(error!.message).toContain("1 matching, 2 received in all");
    expect(error!.message).toContain("#1 POST /hooks -> 500, verified");
    expect(error!.message).toContain(
      "#2 POST /other -> 204, not verified (Missing required headers)",
    );

    const empty = await startWebhookReceiver();
    try {
      await expect(empty.waitForRequests(1, { timeoutMs: 20 })).rejects.toThrow(
        /0 matching, 0 received in all: none/,
      );
    } finally {
      await empty.close();
    }
  });

  it("reset() clears recordings and scripts", async () => {
    receiver.respond("/hooks", { status: 500 }, { status: 500 });
    receiver.otherwise("/hooks", { status: 200 });
    expect((await post(receiver.url(), signed([OLD_SECRET]))).status).toBe(500);
    receiver.reset();
    expect(receiver.requests()).toEqual([]);
    expect(receiver.pending("/hooks")).toEqual([]);
    expect((await post(receiver.url(), signed([OLD_SECRET]))).status).toBe(204);
    expect(receiver.requests().map((r) => r.seq)).toEqual([1]);
    expect(receiver.secrets).toEqual([OLD_SECRET]); // secrets are configuration, kept
  });
});
