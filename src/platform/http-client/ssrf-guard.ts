import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { classifyNetworkError } from "../resilience/classify-network-error.ts";
import { IntegrationError } from "../resilience/integration-error.ts";
import { checkAddress, parseAllowList, type AllowList } from "./check-address.ts";

/** Every address a host name resolves to (A and AAAA). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (hostname) =>
  lookup(hostname, { all: true, verbatim: true });

export interface SsrfGuardOptions {
  /** CIDRs reachable although not public (`OUTBOUND_ALLOW_CIDRS`). */
  allowCidrs?: string | readonly string[];
  /**
   * Host names reachable whatever they resolve to (`WEBHOOK_ALLOW_TARGETS`): exact names
   * or `*.suffix` wildcards. The connection still goes to the address resolved once.
   */
  allowHosts?: readonly string[];
  /** Refuse http:// (`OUTBOUND_HTTPS_ONLY`). */
  httpsOnly?: boolean;
  /** Injected in tests; the system resolver (getaddrinfo) otherwise. */
  resolver?: Resolver;
  /** The provider named in errors. */
  provider?: string;
  /** Longest wait for the resolver. */
  resolveTimeoutMs?: number;
}

/**
 * The outbound SSRF guard of INTEGRATIONS.md "Security specifics". `checkUrl` refuses
 * what is wrong in the URL itself; `resolve` (called by the connector, once per
 * connection) resolves the host, refuses it when ANY address is not public, and returns
 * the checked address the connection must use, so a second lookup (DNS rebinding) never
 * decides where we connect.
 */
export class SsrfGuard {
  private readonly allow: AllowList;
  private readonly resolver: Resolver;
  readonly provider: string;

  constructor(private readonly options: SsrfGuardOptions = {}) {
    this.allow = parseAllowList(options.allowCidrs ?? []);
    this.resolver = options.resolver ?? systemResolver;
    this.provider = options.provider ?? "outbound";
  }

  /** A parsed URL that may be fetched, as far as the URL alone can tell. */
  checkUrl(input: string | URL): URL {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      // Not echoed: an unparsable URL may still hold credentials.
      throw this.refuse("is not a valid URL", "the target");
    }
    // The WHATWG parser already turned 2130706433, 0177.0.0.1 and 0x7f.1 into 127.0.0.1.
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw this.refuse(`uses ${url.protocol} (only http and https)`, url);
    if (this.options.httpsOnly && url.protocol !== "https:")
      throw this.refuse("must use https", url);
    if (url.username !== "" || url.password !== "")
      throw this.refuse("must not carry credentials", url);
    if (url.hostname === "") throw this.refuse("has no host", url);
    const literal = unbracket(url.hostname);
    if (isIP(literal)) this.checkIp(literal, url);
    return url;
  }

  /** The address to connect to for `hostname` (an IP literal or a name). */
  async resolve(hostname: string): Promise<string> {
    const host = unbracket(hostname);
    if (isIP(host)) return this.checkIp(host, hostname);
    let answers: { address: string }[];
    try {
      answers = await withTimeout(this.resolver(host), this.options.resolveTimeoutMs ?? 10_000);
    } catch (error) {
      throw classifyNetworkError(error, this.provider);
    }
    if (answers.length === 0)
      throw new IntegrationError("PROVIDER_UNREACHABLE", "unavailable", `${host} has no address`, {
        provider: this.provider,
        classification: "retryable",
      });
    if (hostAllowed(host, this.options.allowHosts ?? [])) return answers[0]!.address;
    const verdicts = answers.map((answer) => checkAddress(answer.address, this.allow));
    const refused = verdicts.find((v) => !v.allowed);
    if (refused)
      throw this.refuse(`resolves to a non-public address (${refused.reason})`, host, {
        address: refused.address,
      });
    return verdicts[0]!.address;
  }

  /** Both steps, as the HTTP client does them (for checks before storing a URL). */
  async check(input: string | URL): Promise<{ url: URL; address: string }> {
    const url = this.checkUrl(input);
    return { url, address: await this.resolve(url.hostname) };
  }

  private checkIp(ip: string, target: string | URL): string {
    const verdict = checkAddress(ip, this.allow);
    if (!verdict.allowed)
      throw this.refuse(`targets a non-public address (${verdict.reason})`, target, {
        address: verdict.address,
      });
    return verdict.address;
  }

  private refuse(why: string, target: string | URL, details: Record<string, unknown> = {}) {
    const shown = typeof target === "string" ? target : `${target.protocol}//${target.host}`;
    return new IntegrationError("OUTBOUND_URL_NOT_ALLOWED", "integration", `${shown} ${why}`, {
      provider: this.provider,
      classification: "permanent",
      details: { target: shown, ...details },
    });
  }
}

/** `hooks.internal` matches itself; `*.corp.example` matches its subdomains only. */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return patterns.some((raw) => {
    const pattern = raw.trim().toLowerCase();
    if (pattern.startsWith("*.")) return name.endsWith(pattern.slice(1));
    return pattern !== "" && name === pattern;
  });
}

/**
 * Splits an allow-list of CIDRs, addresses and host names (`WEBHOOK_ALLOW_TARGETS`):
 * what parses as an address or CIDR is a CIDR, the rest are host names.
 */
export function splitAllowTargets(text: string): { cidrs: string[]; hosts: string[] } {
  const items = text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  const isCidr = (item: string) => isIP(item.split("/")[0]!) !== 0;
  return { cidrs: items.filter(isCidr), hosts: items.filter((item) => !isCidr(item)) };
}

const unbracket = (host: string) =>
  host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(Object.assign(new Error(`DNS lookup took over ${ms} ms`), { code: "EAI_AGAIN" })),
      ms,
    );
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
