import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HttpClient } from "../../src/platform/http-client/http-client.ts";
import type { Resolver } from "../../src/platform/http-client/ssrf-guard.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { expectError } from "../support/api-assertions.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * The SSRF rules of INTEGRATIONS.md "Security specifics" as the endpoints API applies
 * them: every URL below is refused with 422 WEBHOOK_URL_NOT_ALLOWED on create and on
 * PATCH, and nothing is stored. DNS is the injected resolver (a fake zone): no test here
 * ever opens a connection to anything but loopback. Endpoints on allowed public targets
 * subscribe to an event type nothing here emits, so they never receive a delivery.
 */

const PUBLIC_V4 = "93.184.216.34";
const PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946";
/** Emitted by nothing in these suites (no channel exists): no delivery is ever queued. */
const QUIET_EVENT_TYPES = ["channel.status_changed"];

/** The fake zone: names and their A/AAAA answers. Unknown names fail like ENOTFOUND. */
const ZONE: Record<string, string[]> = {
  // Public
  "hooks.example.com": [PUBLIC_V4],
  "hooks.example.com.": [PUBLIC_V4],
  "dual.example.com": [PUBLIC_V4, PUBLIC_V6],
  "v6.example.com": [PUBLIC_V6],
  // Loopback
  localhost: ["127.0.0.1", "::1"],
  "localhost.": ["127.0.0.1"],
  "loopback.example": ["127.0.0.1"],
  "v6-loopback.example": ["::1"],
  "zero.example": ["0.0.0.0"],
  // Private and special
  "private10.example": ["10.1.2.3"],
  "private172.example": ["172.20.0.5"],
  "private192.example": ["192.168.1.10"],
  "mixed.example": [PUBLIC_V4, "10.0.0.5"],
  "mixed6.example": [PUBLIC_V6, "::1"],
  "mapped-private.example": ["::ffff:10.0.0.1"],
  "metadata.google.internal": ["169.254.169.254"],
  "instance-data.example": ["169.254.169.254"],
  "nat64-metadata.example": ["64:ff9b::a9fe:a9fe"],
  "cgnat.example": ["100.64.0.7"],
  "ula.example": ["fd00::1234"],
  "linklocal6.example": ["fe80::1"],
  "empty.example": [],
  // For the allow-list block
  "hooks.internal": ["10.0.0.5"],
  "a.corp.example": ["10.30.0.1"],
  "deep.a.corp.example": ["10.30.0.2"],
  "corp.example": ["10.30.0.3"],
  "evilcorp.example": ["10.30.0.4"],
  "hooks.internal.evil.example": ["10.0.0.6"],
};

function zoneResolver(zone: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const addresses = zone[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

/** [what it is, URL, a fragment the refusal's message must contain]. */
const REFUSED: [string, string, string][] = [
  // Loopback, in every notation the WHATWG parser accepts
  ["loopback, dotted", "http://127.0.0.1/", "(loopback)"],
  ["loopback, two parts (127.1)", "http://127.1/", "(loopback)"],
  ["loopback, three parts (127.0.1)", "http://127.0.1/", "(loopback)"],
  ["loopback, decimal", "http://2130706433/", "(loopback)"],
  ["loopback, hex", "http://0x7f000001/", "(loopback)"],
  ["loopback, hex upper case", "http://0X7F000001/", "(loopback)"],
  ["loopback, hex first octet", "http://0x7f.0.0.1/", "(loopback)"],
  ["loopback, octal first octet", "http://0177.0.0.1/", "(loopback)"],
  ["loopback, octal whole", "http://017700000001/", "(loopback)"],
  ["loopback, top of 127/8", "http://127.255.255.254/", "(loopback)"],
  ["loopback, with port and path", "http://127.0.0.1:8080/admin", "(loopback)"],
  ["loopback, trailing dot", "http://127.0.0.1./", "(loopback)"],
  ["loopback, percent-encoded host", "http://%31%32%37.0.0.1/", "(loopback)"],
  ["loopback, full-width digits", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "(loopback)"],
  ["localhost by name (127.0.0.1 and ::1)", "http://localhost/", "(loopback)"],
  ["localhost upper case with trailing dot", "http://LOCALHOST./", "(loopback)"],
  ["a name resolving to 127.0.0.1", "https://loopback.example/hook", "(loopback)"],
  ["a name resolving to ::1", "https://v6-loopback.example/", "(loopback)"],
  ["IPv6 loopback", "http://[::1]/", "(loopback)"],
  ["IPv6 loopback, long form", "http://[0:0:0:0:0:0:0:1]/", "(loopback)"],
  ["IPv4-mapped loopback, dotted", "http://[::ffff:127.0.0.1]/", "(loopback)"],
  ["IPv4-mapped loopback, hex", "http://[::ffff:7f00:1]/", "(loopback)"],
  ["IPv4-compatible loopback (deprecated ::a.b.c.d)", "http://[::127.0.0.1]/", "(unallocated)"],
  // Unspecified ("this host")
  ["0.0.0.0", "http://0.0.0.0/", "(unspecified)"],
  ["bare 0", "http://0/", "(unspecified)"],
  ["0.0.0.0/8 (this network)", "http://0.1.2.3/", "(unspecified)"],
  ["IPv6 unspecified", "http://[::]/", "(unspecified)"],
  ["a name resolving to 0.0.0.0", "https://zero.example/", "(unspecified)"],
  // RFC 1918
  ["10/8", "http://10.0.0.1/", "(private)"],
  ["top of 10/8", "http://10.255.255.255/", "(private)"],
  ["bottom edge of 172.16/12", "http://172.16.0.0/", "(private)"],
  ["top edge of 172.16/12", "http://172.31.255.255/", "(private)"],
  ["192.168/16", "http://192.168.0.1/", "(private)"],
  ["top of 192.168/16, with port", "https://192.168.255.255:8443/", "(private)"],
  ["10.0.0.1 in octal", "http://012.0.0.1/", "(private)"],
  ["192.168.0.1 in decimal", "http://3232235521/", "(private)"],
  ["a name resolving to 10/8", "https://private10.example/", "(private)"],
  ["a name resolving to 172.16/12", "https://private172.example/", "(private)"],
  ["a name resolving to 192.168/16", "https://private192.example/", "(private)"],
  ["a name resolving to one public AND one private IPv4", "https://mixed.example/", "(private)"],
  ["a name resolving to a public IPv6 AND ::1", "https://mixed6.example/", "(loopback)"],
  ["a name resolving to IPv4-mapped 10.0.0.1", "https://mapped-private.example/", "(private)"],
  // Link-local and the cloud metadata address
  ["metadata address", "http://169.254.169.254/latest/meta-data/", "(linkLocal)"],
  ["link-local", "http://169.254.0.1/", "(linkLocal)"],
  ["metadata address, decimal", "http://2852039166/", "(linkLocal)"],
  ["metadata address, hex", "http://0xa9fea9fe/", "(linkLocal)"],
  ["metadata address, dotted hex", "http://0xa9.0xfe.0xa9.0xfe/", "(linkLocal)"],
  ["metadata address, dotted octal", "http://0251.0376.0251.0376/", "(linkLocal)"],
  [
    "metadata.google.internal resolving to 169.254.169.254",
    "http://metadata.google.internal/computeMetadata/v1/",
    "(linkLocal)",
  ],
  [
    "another name resolving to the metadata address",
    "http://instance-data.example/",
    "(linkLocal)",
  ],
  // Carrier-grade NAT 100.64/10
  ["CGNAT", "http://100.64.0.1/", "(carrierGradeNat)"],
  ["top of CGNAT", "http://100.127.255.254/", "(carrierGradeNat)"],
  ["a name resolving to CGNAT", "https://cgnat.example/", "(carrierGradeNat)"],
  // Multicast, reserved, broadcast, benchmarking, documentation
  ["multicast 224/4", "http://224.0.0.1/", "(multicast)"],
  ["multicast, SSDP", "http://239.255.255.250/", "(multicast)"],
  ["reserved 240/4", "http://240.0.0.1/", "(reserved)"],
  ["broadcast", "http://255.255.255.255/", "(broadcast)"],
  ["benchmarking 198.18/15", "http://198.18.0.1/", "(reserved)"],
  ["top of benchmarking 198.18/15", "http://198.19.255.254/", "(reserved)"],
  ["documentation TEST-NET-1", "http://192.0.2.1/", "(reserved)"],
  ["documentation TEST-NET-2", "http://198.51.100.7/", "(reserved)"],
  ["documentation TEST-NET-3", "http://203.0.113.10/", "(reserved)"],
  ["IETF protocol assignments 192.0.0/24", "http://192.0.0.8/", "(reserved)"],
  // IPv6 private ranges
  ["ULA fc00::/7 (fc)", "http://[fc00::1]/", "(uniqueLocal)"],
  ["ULA fc00::/7 (fd)", "http://[fd12:3456:789a::1]/", "(uniqueLocal)"],
  ["a name resolving to a ULA", "https://ula.example/", "(uniqueLocal)"],
  ["link-local fe80::/10", "http://[fe80::1]/", "(linkLocal)"],
  ["top of link-local fe80::/10", "http://[febf:ffff::1]/", "(linkLocal)"],
  ["a name resolving to fe80::1", "https://linklocal6.example/", "(linkLocal)"],
  ["IPv6 multicast", "http://[ff02::1]/", "(multicast)"],
  ["IPv6 documentation 2001:db8::/32", "http://[2001:db8::1]/", "(reserved)"],
  // IPv4 embedded in IPv6: mapped, NAT64 (64:ff9b::/96), 6to4 (2002::/16), Teredo (2001::/32)
  ["IPv4-mapped 10.0.0.1", "http://[::ffff:10.0.0.1]/", "(private)"],
  ["IPv4-mapped metadata, hex", "http://[::ffff:a9fe:a9fe]/", "(linkLocal)"],
  ["IPv4-mapped 192.168.1.1", "http://[::ffff:192.168.1.1]/", "(private)"],
  ["NAT64 of the metadata address", "http://[64:ff9b::a9fe:a9fe]/", "(nat64 of linkLocal)"],
  ["NAT64 of loopback", "http://[64:ff9b::7f00:1]/", "(nat64 of loopback)"],
  ["NAT64 of 10.0.0.1, dotted", "http://[64:ff9b::10.0.0.1]/", "(nat64 of private)"],
  [
    "a name resolving to NAT64 of the metadata address",
    "https://nat64-metadata.example/",
    "(nat64 of linkLocal)",
  ],
  ["6to4 of loopback", "http://[2002:7f00:0001::]/", "(6to4 of loopback)"],
  ["6to4 of the metadata address", "http://[2002:a9fe:a9fe::]/", "(6to4 of linkLocal)"],
  ["6to4 of 192.168.1.1", "http://[2002:c0a8:0101::1]/", "(6to4 of private)"],
  [
    "Teredo, client 10.0.0.1 (obfuscated f5ff:fffe)",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    "(teredo of private)",
  ],
  [
    "Teredo, client 169.254.169.254 (obfuscated 5601:5601)",
    "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",
    "(teredo of linkLocal)",
  ],
  [
    "Teredo, client 127.0.0.1 (obfuscated 80ff:fffe)",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "(teredo of loopback)",
  ],
  ["Teredo, server 10.0.0.1", "http://[2001:0:a00:1::f7f7:f7f7]/", "(teredo of private)"],
  // Schemes, credentials, unparsable
  ["ftp scheme", "ftp://hooks.example.com/", "only http and https"],
  ["file scheme", "file:///etc/passwd", "only http and https"],
  ["gopher to redis", "gopher://127.0.0.1:6379/_INFO", "only http and https"],
  ["javascript scheme", "javascript:alert(1)", "only http and https"],
  ["data URL", "data:text/plain,hello", "only http and https"],
  ["websocket scheme", "wss://hooks.example.com/", "only http and https"],
  ["user and password", "https://user:pass@hooks.example.com/", "credentials"],
  ["user only", "https://user@hooks.example.com/", "credentials"],
  ["password only", "https://:pass@hooks.example.com/", "credentials"],
  ["credentials that look like a host", "http://127.0.0.1:80@hooks.example.com/", "credentials"],
  ["not a URL", "not a url", "not a valid URL"],
  ["scheme without host", "http://", "not a valid URL"],
  ["relative URL", "//hooks.example.com/hook", "not a valid URL"],
  ["space in the host", "https://hooks example.com/", "not a valid URL"],
  ["unclosed IPv6 bracket", "http://[::1/", "not a valid URL"],
  ["IPv6 zone id", "http://[fe80::1%25eth0]/", "not a valid URL"],
  // Names the guard cannot check are refused too (DNS failure: it cannot prove them public)
  ["a name that does not resolve (ENOTFOUND)", "https://nx.example/", "could not be resolved"],
  ["a name with no address", "https://empty.example/", "could not be resolved"],
];

/** [what it is, URL]: public targets, answered 201 (no traffic: no event they want). */
const ALLOWED: [string, string][] = [
  ["a public name", "https://hooks.example.com/webhooks"],
  ["a public name with IPv4 and IPv6 answers", "https://dual.example.com/x"],
  ["a public IPv6-only name, port and query", "https://v6.example.com:8443/p?q=1"],
  ["a public name, upper case with trailing dot", "https://HOOKS.EXAMPLE.COM./"],
  ["a public IPv4 literal", `http://${PUBLIC_V4}/`],
  ["a public IPv6 literal", `https://[${PUBLIC_V6}]/`],
  ["an IPv4-mapped public address", `http://[::ffff:${PUBLIC_V4}]/`],
  ["just below CGNAT", "https://100.63.255.255/"],
  ["just above 172.16/12", "https://172.32.0.0/"],
];

const urlNotAllowed = (res: Awaited<ReturnType<ReturnType<typeof client>["post"]>>) =>
  expectError(res, 422, "WEBHOOK_URL_NOT_ALLOWED");

describe("webhook endpoint URLs without an allow-list", () => {
  let t: TestApp;
  let api: ReturnType<typeof client>;
  let existing: { id: string; url: string; updatedAt: string };
  const resolver = zoneResolver(ZONE);

  const listing = async () => {
    const res = await api.get("/v1/webhook-endpoints?limit=200");
    expect(res.status).toBe(200);
    return JSON.stringify(res.body);
  };
  const tableRows = async () => {
    const db = t.app.deps.database.db;
    const [endpoints, secrets] = await Promise.all([
      db.selectFrom("webhook_endpoints").selectAll().orderBy("id").execute(),
      db
        .selectFrom("webhook_endpoint_secrets")
        .select(["id", "endpoint_id"])
        .orderBy("id")
        .execute(),
    ]);
    return JSON.stringify({ endpoints, secrets });
  };

  beforeAll(async () => {
    t = await createTestApp({}, { compose: { resolver } });
    api = client(t.app, t.adminKey);
    const res = await api.post("/v1/webhook-endpoints", {
      url: "https://hooks.example.com/existing",
      eventTypes: QUIET_EVENT_TYPES,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    existing = res.body;
  });
  afterAll(async () => {
    if (t) {
      // Nothing was ever queued for delivery, so nothing was ever sent anywhere.
      const queued = await t.app.deps.database.db
        .selectFrom("webhook_messages")
        .select("id")
        .execute();
      expect(queued).toEqual([]);
      await t.close();
    }
  });

  it("covers at least 60 refused URLs", () => {
    expect(REFUSED.length).toBeGreaterThanOrEqual(60);
    expect(new Set(REFUSED.map(([, url]) => url)).size).toBe(REFUSED.length);
  });

  it.each(REFUSED)("POST refuses %s: %s", async (_what, url, reason) => {
    const before = await listing();
    const rows = await tableRows();
    const res = await api.post("/v1/webhook-endpoints", { url, eventTypes: QUIET_EVENT_TYPES });
    urlNotAllowed(res);
    expect(res.body.error.message).toContain(reason);
    expect(await listing()).toBe(before);
    expect(await tableRows()).toBe(rows);
  });

  it.each(REFUSED)("PATCH refuses %s: %s", async (_what, url, reason) => {
    const before = await listing();
    const rows = await tableRows();
    const res = await api.patch(`/v1/webhook-endpoints/${existing.id}`, { url });
    urlNotAllowed(res);
    expect(res.body.error.message).toContain(reason);
    const after = await api.get(`/v1/webhook-endpoints/${existing.id}`);
    expect(after.body).toMatchObject({ url: existing.url, updatedAt: existing.updatedAt });
    expect(await listing()).toBe(before);
    expect(await tableRows()).toBe(rows);
  });

  it("never echoes credentials from a refused URL", async () => {
    const url = "https://admin:Sup3rS3cretPw@hooks.example.com/";
    for (const res of [
      await api.post("/v1/webhook-endpoints", { url }),
      await api.patch(`/v1/webhook-endpoints/${existing.id}`, { url }),
    ]) {
      urlNotAllowed(res);
      expect(JSON.stringify(res.body)).not.toContain("Sup3rS3cretPw");
    }
  });

  it("refuses a refused URL alongside other valid changes, changing nothing", async () => {
    const rows = await tableRows();
    const res = await api.patch(`/v1/webhook-endpoints/${existing.id}`, {
      url: "http://169.254.169.254/",
      description: "should not be written",
      eventTypes: ["contact.*"],
    });
    urlNotAllowed(res);
    expect(await tableRows()).toBe(rows);
  });

  it.each(ALLOWED)("allows %s: %s (201, then PATCH 200)", async (_what, url) => {
    const created = await api.post("/v1/webhook-endpoints", { url, eventTypes: QUIET_EVENT_TYPES });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ url, eventTypes: QUIET_EVENT_TYPES, status: "enabled" });
    try {
      const patched = await api.patch(`/v1/webhook-endpoints/${existing.id}`, { url });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.body.url).toBe(url);
    } finally {
      await api.patch(`/v1/webhook-endpoints/${existing.id}`, { url: existing.url });
      expect((await api.delete(`/v1/webhook-endpoints/${created.body.id}`)).status).toBe(204);
    }
    existing = (await api.get(`/v1/webhook-endpoints/${existing.id}`)).body;
  });
});

describe("WEBHOOK_HTTPS_ONLY=true", () => {
  let t: TestApp;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    t = await createTestApp(
      { WEBHOOK_HTTPS_ONLY: "true" },
      { compose: { resolver: zoneResolver(ZONE) } },
    );
    api = client(t.app, t.adminKey);
  });
  afterAll(async () => t?.close());

  it("refuses http:// on create and patch, accepts https://", async () => {
    for (const url of [
      "http://hooks.example.com/",
      `http://${PUBLIC_V4}/`,
      "HTTP://hooks.example.com/",
    ]) {
      const res = await api.post("/v1/webhook-endpoints", { url, eventTypes: QUIET_EVENT_TYPES });
      urlNotAllowed(res);
      expect(res.body.error.message).toContain("must use https");
    }
    const ok = await api.post("/v1/webhook-endpoints", {
      url: "https://hooks.example.com/",
      eventTypes: QUIET_EVENT_TYPES,
    });
    expect(ok.status).toBe(201);
    const patch = await api.patch(`/v1/webhook-endpoints/${ok.body.id}`, {
      url: "http://hooks.example.com/",
    });
    urlNotAllowed(patch);
    expect((await api.get(`/v1/webhook-endpoints/${ok.body.id}`)).body.url).toBe(
      "https://hooks.example.com/",
    );
    expect((await api.delete(`/v1/webhook-endpoints/${ok.body.id}`)).status).toBe(204);
  });

  it("https does not open private addresses", async () => {
    for (const url of ["https://10.0.0.1/", "https://localhost/", "https://[::1]/"])
      urlNotAllowed(
        await api.post("/v1/webhook-endpoints", { url, eventTypes: QUIET_EVENT_TYPES }),
      );
  });
});

describe("WEBHOOK_ALLOW_TARGETS=10.20.0.0/16,hooks.internal,*.corp.example", () => {
  let t: TestApp;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    t = await createTestApp(
      { WEBHOOK_ALLOW_TARGETS: "10.20.0.0/16,hooks.internal,*.corp.example" },
      { compose: { resolver: zoneResolver(ZONE) } },
    );
    api = client(t.app, t.adminKey);
  });
  afterAll(async () => t?.close());

  it.each([
    ["an address in the allowed CIDR", "http://10.20.1.1/hook"],
    ["the top of the allowed CIDR", "http://10.20.255.255/"],
    ["an allowed host name resolving to 10.0.0.5", "http://hooks.internal/hook"],
    ["an allowed host name, upper case", "http://HOOKS.INTERNAL:8080/"],
    ["a subdomain under the wildcard", "http://a.corp.example/hook"],
    ["a deeper subdomain under the wildcard", "https://deep.a.corp.example/"],
  ])("allows %s: %s", async (_what, url) => {
    const res = await api.post("/v1/webhook-endpoints", { url, eventTypes: QUIET_EVENT_TYPES });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((await api.delete(`/v1/webhook-endpoints/${res.body.id}`)).status).toBe(204);
  });

  it.each([
    ["an address just outside the CIDR", "http://10.21.0.1/", "(private)"],
    ["the wildcard's own apex (resolving privately)", "http://corp.example/", "(private)"],
    ["a name that only ends like the wildcard", "http://evilcorp.example/", "(private)"],
    ["an allowed name as a prefix of another", "http://hooks.internal.evil.example/", "(private)"],
    ["loopback", "http://127.0.0.1/", "(loopback)"],
    ["the metadata address", "http://169.254.169.254/", "(linkLocal)"],
    ["another private range", "http://192.168.1.1/", "(private)"],
  ])("refuses %s: %s", async (_what, url, reason) => {
    const before = await api.get("/v1/webhook-endpoints");
    const res = await api.post("/v1/webhook-endpoints", { url, eventTypes: QUIET_EVENT_TYPES });
    urlNotAllowed(res);
    expect(res.body.error.message).toContain(reason);
    expect((await api.get("/v1/webhook-endpoints")).body).toEqual(before.body);
  });
});

describe("DNS rebinding between the create-time check and the delivery", () => {
  let t: TestApp;
  let api: ReturnType<typeof client>;
  let receiver: WebhookReceiver;
  /** What rebind.test resolves to; switched to loopback before any delivery can happen. */
  let rebindTo = PUBLIC_V4;
  const calls: string[] = [];
  const resolver: Resolver = async (hostname) => {
    calls.push(hostname);
    if (hostname !== "rebind.test")
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return [{ address: rebindTo, family: 4 }];
  };

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    t = await createTestApp({ WEBHOOK_POLL_INTERVAL_MS: "50" }, { compose: { resolver } });
    api = client(t.app, t.adminKey);
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it("the delivery resolves again, sees loopback and refuses: no request reaches it", async () => {
    const port = new URL(receiver.url()).port;
    const created = await api.post("/v1/webhook-endpoints", {
      url: `http://rebind.test:${port}/rebind`,
      eventTypes: ["contact.*"],
    });
    // From here on the name answers loopback: nothing can ever dial the public address.
    rebindTo = "127.0.0.1";
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(calls).toEqual(["rebind.test"]);

    expect((await api.post("/v1/contacts", { name: "Rebound" })).status).toBe(201);
    const delivery = await waitFor(
      async () => {
        const page = await api.get(`/v1/webhook-endpoints/${created.body.id}/deliveries`);
        const first = page.body.data[0];
        return first?.attempts.length > 0 ? first : undefined;
      },
      10_000,
      { what: "a recorded attempt" },
    );
    expect(delivery).toMatchObject({ eventType: "contact.created", lastStatusCode: null });
    expect(delivery.attempts[0]).toMatchObject({
      attempt: 1,
      outcome: "failed",
      statusCode: null,
      responseBody: null,
    });
    expect(delivery.attempts[0].error).toMatch(/OUTBOUND_URL_NOT_ALLOWED/);
    expect(delivery.attempts[0].error).toMatch(/non-public address \(loopback\)/);
    expect(delivery.lastError).toBe(delivery.attempts[0].error);
    // The delivery looked the name up again (the create-time answer was not reused).
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(receiver.requests()).toEqual([]);
  });
});

describe("DNS rebinding within one connection: one lookup, connected to what was checked", () => {
  let server: Server;
  let port: number;
  const seen: IncomingHttpHeaders[] = [];
  const clients: HttpClient[] = [];
  let connections = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      res.end("ok");
    });
    server.on("connection", () => connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(async () => {
    seen.length = 0;
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  /**
   * Answers 127.0.0.1 (allow-listed) on the first lookup, 127.0.0.2 (loopback, but not
   * allow-listed, and nothing listens there) on every later one: a guard that looked up
   * twice per connection (check, then connect) would refuse or fail the request.
   */
  const flipping = () => {
    const calls: string[] = [];
    const resolve: Resolver = async (hostname) => {
      calls.push(hostname);
      return [{ address: calls.length === 1 ? "127.0.0.1" : "127.0.0.2", family: 4 }];
    };
    return { calls, resolve };
  };
  const newClient = (resolver: Resolver) => {
    const http = new HttpClient({
      provider: "webhooks",
      guard: { resolver, allowCidrs: "127.0.0.1/32" },
    });
    clients.push(http);
    return http;
  };

  it("a request resolves once and connects to that address", async () => {
    const dns = flipping();
    const http = newClient(dns.resolve);
    const res = await http.request({
      url: `http://flip.test:${port}/one`,
      method: "POST",
      body: "x",
    });
    expect(res.status).toBe(200);
    expect(dns.calls).toEqual(["flip.test"]);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.host).toBe(`flip.test:${port}`);
  });

  it("one lookup per connection opened, never one per request on a kept connection", async () => {
    const calls: string[] = [];
    const http = newClient(async (hostname) => {
      calls.push(hostname);
      return [{ address: "127.0.0.1", family: 4 }];
    });
    const before = connections;
    for (const path of ["/a", "/b", "/c"]) {
      const res = await http.request({ url: `http://steady.test:${port}${path}` });
      expect(res.status).toBe(200);
    }
    expect(seen).toHaveLength(3);
    // Under load the server may report a socket a moment after the client used it.
    await waitFor(() => calls.length === connections - before, 2_000, {
      what: `one lookup per connection (${calls.length} lookups)`,
    });
  });

  it("a new connection after the name rebinds looks up again and is refused", async () => {
    const dns = flipping();
    await newClient(dns.resolve).request({ url: `http://flip.test:${port}/a` });
    expect(seen).toHaveLength(1);
    await expect(
      newClient(dns.resolve).request({ url: `http://flip.test:${port}/b` }),
    ).rejects.toMatchObject({ code: "OUTBOUND_URL_NOT_ALLOWED" });
    expect(dns.calls).toEqual(["flip.test", "flip.test"]);
    expect(seen).toHaveLength(1);
  });

  it("one lookup answering an allowed and a refused address is refused as a whole", async () => {
    const calls: string[] = [];
    const http = newClient(async (hostname) => {
      calls.push(hostname);
      return [
        { address: "127.0.0.1", family: 4 },
        { address: "127.0.0.2", family: 4 },
      ];
    });
    await expect(http.request({ url: `http://both.test:${port}/` })).rejects.toMatchObject({
      code: "OUTBOUND_URL_NOT_ALLOWED",
    });
    expect(calls).toEqual(["both.test"]);
    expect(seen).toHaveLength(0);
  });

  it("a composed app's delivery looks the name up once per connection", async () => {
    const receiver = await startWebhookReceiver();
    const dns = { calls: [] as string[] };
    // The create-time check, then the delivery's connection: 127.0.0.1; later: 127.0.0.2.
    const resolver: Resolver = async (hostname) => {
      dns.calls.push(hostname);
      return [{ address: dns.calls.length <= 2 ? "127.0.0.1" : "127.0.0.2", family: 4 }];
    };
    const t = await createTestApp(
      { WEBHOOK_ALLOW_TARGETS: "127.0.0.1/32", WEBHOOK_POLL_INTERVAL_MS: "50" },
      { compose: { resolver } },
    );
    try {
      const api = client(t.app, t.adminKey);
      const rport = new URL(receiver.url()).port;
      const created = await api.post("/v1/webhook-endpoints", {
        url: `http://flip.test:${rport}/once`,
        eventTypes: ["contact.created"],
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      receiver.setSecrets([created.body.secret]);
      expect(dns.calls).toHaveLength(1);
      expect((await api.post("/v1/contacts", { name: "Once" })).status).toBe(201);
      const [request] = await receiver.waitForRequests(1, { path: "/once", timeoutMs: 10_000 });
      expect(request!.verifiedBy).toEqual([created.body.secret]);
      expect(request!.headers.host).toBe(`flip.test:${rport}`);
      await waitFor(async () => {
        const page = await api.get(`/v1/webhook-endpoints/${created.body.id}/deliveries`);
        return page.body.data[0]?.status === "succeeded";
      }, 5_000);
      expect(dns.calls).toEqual(["flip.test", "flip.test"]);
    } finally {
      await t.close();
      await receiver.close();
    }
  });
});
