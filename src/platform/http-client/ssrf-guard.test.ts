import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { checkAddress, parseAllowList } from "./check-address.ts";
import { HttpClient } from "./http-client.ts";
import { SsrfGuard, type Resolver } from "./ssrf-guard.ts";

/** A fake DNS: names used below and what they resolve to. */
const ZONE: Record<string, string[]> = {
  "example.com": ["93.184.216.34"],
  "dual.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
  "sub.domain.example": ["151.101.1.69"],
  localhost: ["127.0.0.1", "::1"],
  "localhost.": ["127.0.0.1"],
  "metadata.google.internal": ["169.254.169.254"],
  "internal.example": ["10.1.2.3"],
  "mixed.example": ["93.184.216.34", "10.0.0.5"],
  "v6only.example": ["::1"],
  "mapped.example": ["::ffff:192.168.1.1"],
  "127.0.0.1.nip.example": ["127.0.0.1"],
  "cgnat.example": ["100.64.1.1"],
  "ula.example": ["fd00::1234"],
  "onprem.example": ["10.20.3.4"],
  "empty.example": [],
};
const resolver: Resolver = async (hostname) => {
  const addresses = ZONE[hostname];
  if (!addresses)
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
  return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
};

const guard = new SsrfGuard({ resolver });

const REFUSED: [string, string, string][] = [
  // Loopback in every notation
  ["dotted loopback", "http://127.0.0.1/", "loopback"],
  ["short loopback 127.1", "http://127.1/", "loopback"],
  ["three-part loopback", "http://127.0.1/", "loopback"],
  ["top of 127/8", "http://127.255.255.254/", "loopback"],
  ["decimal loopback", "http://2130706433/", "loopback"],
  ["hex loopback", "http://0x7f000001/", "loopback"],
  ["hex short loopback", "http://0x7f.1/", "loopback"],
  ["octal loopback", "http://0177.0.0.1/", "loopback"],
  ["octal short loopback", "http://0177.1/", "loopback"],
  ["octal long loopback", "http://017700000001/", "loopback"],
  ["hex dotted loopback", "http://0x7f.0x0.0x0.0x1/", "loopback"],
  ["IPv6 loopback", "http://[::1]/", "loopback"],
  ["IPv6 loopback long form", "http://[0:0:0:0:0:0:0:1]/", "loopback"],
  ["IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/", "loopback"],
  ["IPv4-mapped loopback in hex", "http://[::ffff:7f00:1]/", "loopback"],
  ["IPv4-compatible loopback", "http://[::127.0.0.1]/", "unallocated"],
  ["localhost by name", "http://localhost/", "loopback"],
  ["localhost with port and path", "http://localhost:8080/admin", "loopback"],
  ["localhost with trailing dot", "http://LOCALHOST./", "loopback"],
  ["loopback redis port", "http://127.0.0.1:6379/", "loopback"],
  ["a name that resolves to loopback", "http://127.0.0.1.nip.example/", "loopback"],
  // Unspecified
  ["0.0.0.0", "http://0.0.0.0/", "unspecified"],
  ["bare 0", "http://0/", "unspecified"],
  ["IPv6 unspecified", "http://[::]/", "unspecified"],
  ["0.0.0.0 with port", "https://0.0.0.0:5432/", "unspecified"],
  // Private ranges
  ["10/8", "http://10.0.0.1/", "private"],
  ["top of 10/8", "http://10.255.255.255/", "private"],
  ["172.16/12", "http://172.16.0.1/", "private"],
  ["top of 172.16/12", "http://172.31.255.254/", "private"],
  ["192.168/16", "http://192.168.0.1/", "private"],
  ["192.168/16 with port", "https://192.168.1.1:8443/", "private"],
  ["octal 10.0.0.1", "http://012.0.0.1/", "private"],
  ["hex 192.168.0.1", "http://0xc0a80001/", "private"],
  ["decimal 192.168.0.1", "http://3232235521/", "private"],
  ["a name that resolves to 10/8", "http://internal.example/", "private"],
  ["a name with one private answer among public ones", "https://mixed.example/", "private"],
  ["a name that resolves to an IPv4-mapped private", "http://mapped.example/", "private"],
  // Link-local and cloud metadata
  ["metadata address", "http://169.254.169.254/latest/meta-data/", "linkLocal"],
  ["link-local", "http://169.254.0.1/", "linkLocal"],
  ["decimal metadata address", "http://2852039166/", "linkLocal"],
  ["IPv4-mapped metadata address", "http://[::ffff:169.254.169.254]/", "linkLocal"],
  ["metadata by name", "http://metadata.google.internal/computeMetadata/v1/", "linkLocal"],
  ["IPv6 link-local", "http://[fe80::1]/", "linkLocal"],
  ["IPv6 link-local embedding metadata", "http://[fe80::a9fe:a9fe]/", "linkLocal"],
  ["AWS IPv6 metadata (ULA)", "http://[fd00:ec2::254]/", "uniqueLocal"],
  // Carrier-grade NAT
  ["CGNAT", "http://100.64.0.1/", "carrierGradeNat"],
  ["top of CGNAT", "http://100.127.255.254/", "carrierGradeNat"],
  ["a name that resolves to CGNAT", "http://cgnat.example/", "carrierGradeNat"],
  // Multicast, broadcast, reserved
  ["multicast", "http://224.0.0.1/", "multicast"],
  ["SSDP multicast", "http://239.255.255.250/", "multicast"],
  ["broadcast", "http://255.255.255.255/", "broadcast"],
  ["class E reserved", "http://240.0.0.1/", "reserved"],
  ["IETF protocol assignments", "http://192.0.0.1/", "reserved"],
  ["benchmarking", "http://198.18.0.1/", "reserved"],
  ["TEST-NET-1", "http://192.0.2.1/", "reserved"],
  // IPv6 private and transition forms
  ["ULA fc00::/7", "http://[fc00::1]/", "uniqueLocal"],
  ["ULA fd", "http://[fd12:3456:789a::1]/", "uniqueLocal"],
  ["a name that resolves to ULA", "http://ula.example/", "uniqueLocal"],
  ["a name that resolves to ::1", "http://v6only.example/", "loopback"],
  ["IPv6 multicast", "http://[ff02::1]/", "multicast"],
  ["IPv6 site-local", "http://[fec0::1]/", "deprecatedSiteLocal"],
  ["NAT64 of loopback", "http://[64:ff9b::7f00:1]/", "nat64 of loopback"],
  ["NAT64 of metadata", "http://[64:ff9b::a9fe:a9fe]/", "nat64 of linkLocal"],
  ["NAT64 of 10/8 (dotted)", "http://[64:ff9b::10.0.0.1]/", "nat64 of private"],
  ["NAT64 local-use prefix", "http://[64:ff9b:1::808:808]/", "nat64-local"],
  ["6to4 of loopback", "http://[2002:7f00:1::]/", "6to4 of loopback"],
  ["6to4 of 192.168.1.1", "http://[2002:c0a8:101::1]/", "6to4 of private"],
  ["6to4 of metadata", "http://[2002:a9fe:a9fe::]/", "6to4 of linkLocal"],
  [
    "Teredo with loopback client",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "teredo of loopback",
  ],
  ["Teredo with private server", "http://[2001:0:a00:1::f7f7:f7f7]/", "teredo of private"],
  ["IPv4-translated (RFC 6145)", "http://[::ffff:0:a00:1]/", "rfc6145"],
  ["documentation prefix", "http://[2001:db8::1]/", "reserved"],
  ["discard prefix", "http://[100::1]/", "discard"],
  // Schemes and credentials
  ["file scheme", "file:///etc/passwd", "only http and https"],
  ["ftp scheme", "ftp://example.com/", "only http and https"],
  ["gopher to redis", "gopher://127.0.0.1:6379/_INFO", "only http and https"],
  ["data URL", "data:text/plain,hi", "only http and https"],
  ["javascript URL", "javascript:alert(1)", "only http and https"],
  ["user and password", "http://user:pass@example.com/", "credentials"],
  ["user only", "https://user@example.com/", "credentials"],
  ["not a URL", "not a url", "not a valid URL"],
];

const ALLOWED: [string, string, string][] = [
  ["a public name", "https://example.com/", "93.184.216.34"],
  ["a name with public v4 and v6", "https://dual.example/x", "93.184.216.34"],
  ["a public name with port and query", "https://sub.domain.example:8443/x?y=1", "151.101.1.69"],
  ["a public IPv4", "http://8.8.8.8/", "8.8.8.8"],
  ["a public IPv4 in decimal", "http://134744072/", "8.8.8.8"],
  ["a public IPv4 with port", "http://1.1.1.1:80/", "1.1.1.1"],
  ["a public IPv6", "https://[2606:4700:4700::1111]/", "2606:4700:4700::1111"],
  ["a public IPv6 with port", "https://[2001:4860:4860::8888]:8443/p", "2001:4860:4860::8888"],
  ["IPv4-mapped public", "http://[::ffff:8.8.8.8]/", "8.8.8.8"],
  ["NAT64 of a public IPv4", "http://[64:ff9b::808:808]/", "64:ff9b::808:808"],
  ["6to4 of a public IPv4", "http://[2002:808:808::1]/", "2002:808:808::1"],
];

describe("SSRF guard: refused", () => {
  it.each(REFUSED)("%s: %s (%s)", async (_name, url, reason) => {
    const error = await guard.check(url).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "OUTBOUND_URL_NOT_ALLOWED",
      kind: "integration",
      classification: "permanent",
      retryable: false,
    });
    expect((error as Error).message).toContain(reason);
  });

  it("covers at least 60 forms", () => {
    expect(REFUSED.length + ALLOWED.length).toBeGreaterThanOrEqual(60);
  });

  it("names the range in the error, never the credentials", async () => {
    const meta = (await guard.check("http://169.254.169.254/").catch((e: unknown) => e)) as Error;
    expect(meta.message).toMatch(/linkLocal/);
    const creds = (await guard
      .check("http://user:s3cret@example.com/")
      .catch((e: unknown) => e)) as Error;
    expect(creds.message).toMatch(/credentials/);
    expect(JSON.stringify(creds)).not.toContain("s3cret");
  });
});

describe("SSRF guard: allowed", () => {
  it.each(ALLOWED)("%s: %s -> %s", async (_name, url, address) => {
    await expect(guard.check(url)).resolves.toMatchObject({ address });
  });
});

describe("SSRF guard: switches and DNS failures", () => {
  it("https-only refuses http", async () => {
    const strict = new SsrfGuard({ resolver, httpsOnly: true });
    await expect(strict.check("http://example.com/")).rejects.toMatchObject({
      code: "OUTBOUND_URL_NOT_ALLOWED",
    });
    await expect(strict.check("https://example.com/")).resolves.toBeDefined();
  });

  it("the allow-list opens exactly its CIDRs", async () => {
    const onPremise = new SsrfGuard({ resolver, allowCidrs: "10.20.0.0/16, fd00::/8" });
    await expect(onPremise.check("http://10.20.1.5/")).resolves.toMatchObject({
      address: "10.20.1.5",
    });
    await expect(onPremise.check("http://onprem.example/")).resolves.toMatchObject({
      address: "10.20.3.4",
    });
    await expect(onPremise.check("http://[fd00::5]/")).resolves.toBeDefined();
    await expect(onPremise.check("http://10.21.0.1/")).rejects.toMatchObject({
      code: "OUTBOUND_URL_NOT_ALLOWED",
    });
    await expect(onPremise.check("http://127.0.0.1/")).rejects.toMatchObject({
      code: "OUTBOUND_URL_NOT_ALLOWED",
    });
  });

  it("rejects a malformed allow-list at construction", () => {
    expect(() => new SsrfGuard({ allowCidrs: "10.0.0.0/99" })).toThrow();
    expect(() => new SsrfGuard({ allowCidrs: "not-a-cidr" })).toThrow();
  });

  it("an unknown or empty name is a retryable failure, not a refusal", async () => {
    await expect(guard.check("https://unknown.example/")).rejects.toMatchObject({
      code: "PROVIDER_UNREACHABLE",
      classification: "retryable",
    });
    await expect(guard.check("https://empty.example/")).rejects.toMatchObject({
      code: "PROVIDER_UNREACHABLE",
    });
  });
});

describe("DNS rebinding: the connection goes to the address that was checked", () => {
  let server: Server;
  let port: number;
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      res.end("hello");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(() => {
    seen.length = 0;
    vi.restoreAllMocks();
  });

  /** Answers `first` once, then `later` for every further lookup (a rebinding attacker). */
  const rebinding = (first: string, later: string) => {
    const calls: string[] = [];
    const answer: Resolver = async (hostname) => {
      calls.push(hostname);
      return [{ address: calls.length === 1 ? first : later, family: 4 }];
    };
    return { calls, answer };
  };

  it("allowed loopback first, metadata address later: one lookup, connected to loopback", async () => {
    const dns = rebinding("127.0.0.1", "169.254.169.254");
    const client = new HttpClient({
      provider: "test",
      guard: { resolver: dns.answer, allowCidrs: "127.0.0.0/8" },
    });
    try {
      const response = await client.request({ url: `http://rebind.test:${port}/` });
      expect(response.text()).toBe("hello");
      expect(seen[0]?.host).toBe(`rebind.test:${port}`);
      expect(dns.calls).toEqual(["rebind.test"]);
    } finally {
      await client.close();
    }
    // A new connection looks the name up again, and this time refuses it.
    const next = new HttpClient({
      provider: "test",
      guard: { resolver: dns.answer, allowCidrs: "127.0.0.0/8" },
    });
    try {
      await expect(next.request({ url: `http://rebind.test:${port}/` })).rejects.toMatchObject({
        code: "OUTBOUND_URL_NOT_ALLOWED",
      });
      expect(seen).toHaveLength(1);
    } finally {
      await next.close();
    }
  });

  it("public first, private later: the socket is opened to the public address checked", async () => {
    const dns = rebinding("93.184.216.34", "127.0.0.1");
    // No Internet here: record where the connector dials and route it to the loopback server.
    const realConnect = net.connect.bind(net) as (options: net.NetConnectOpts) => net.Socket;
    const dialed: unknown[] = [];
    vi.spyOn(net, "connect").mockImplementation(((options: net.TcpNetConnectOpts) => {
      dialed.push(options.host);
      return realConnect({ ...options, host: "127.0.0.1", port });
    }) as typeof net.connect);
    const client = new HttpClient({ provider: "test", guard: { resolver: dns.answer } });
    try {
      const response = await client.request({ url: "http://rebind.test/" });
      expect(response.status).toBe(200);
      expect(dialed).toEqual(["93.184.216.34"]);
      expect(dns.calls).toEqual(["rebind.test"]);
      expect(seen[0]?.host).toBe("rebind.test");
    } finally {
      await client.close();
    }
  });
});

describe("checkAddress: resolver answers in any notation", () => {
  it.each([
    ["0x7f.1", false, "loopback"],
    ["0177.0.0.1", false, "loopback"],
    ["2130706433", false, "loopback"],
    ["[::1]", false, "loopback"],
    ["::ffff:127.0.0.1", false, "loopback"],
    ["fe80::1%eth0", false, "linkLocal"],
    ["0.0.0.0", false, "unspecified"],
    ["::", false, "unspecified"],
    ["not-an-address", false, "not-an-ip"],
    ["8.8.8.8", true, "public"],
    ["2a00:1450:4001:82a::200e", true, "public"],
  ] as const)("%s -> allowed=%s (%s)", (input, allowed, reason) => {
    expect(checkAddress(input)).toMatchObject({ allowed, reason });
  });

  it("an allow-listed IPv4-mapped address is reached as IPv4", () => {
    expect(checkAddress("::ffff:127.0.0.1", parseAllowList("127.0.0.0/8"))).toEqual({
      allowed: true,
      address: "127.0.0.1",
      reason: "allow-list",
    });
  });
});
