import ipaddr from "ipaddr.js";

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

/** CIDRs reachable although not public (on-premise hosts; loopback in tests). */
export type AllowList = readonly (readonly [Ip, number])[];

/** Parses `10.0.0.0/8, fd00::/8` (a bare address is a /32 or /128); throws on garbage. */
export function parseAllowList(cidrs: string | readonly string[]): AllowList {
  const items = (typeof cidrs === "string" ? cidrs.split(",") : cidrs)
    .map((item) => item.trim())
    .filter(Boolean);
  return items.map((item) => {
    if (item.includes("/")) return ipaddr.parseCIDR(item);
    const ip = ipaddr.parse(item);
    return [ip, ip.kind() === "ipv4" ? 32 : 128] as const;
  });
}

export interface AddressVerdict {
  allowed: boolean;
  /** The address to connect to (an IPv4-mapped IPv6 address becomes the IPv4 one). */
  address: string;
  /** Why: `public`, `allow-list`, or the special range it falls in (e.g. `loopback`). */
  reason: string;
}

const inAllowList = (ip: Ip, allow: AllowList) =>
  allow.some(([range, bits]) => range.kind() === ip.kind() && ip.match(range, bits));

const v4From = (high: number, low: number) =>
  new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);

/** An IPv4 address is public only outside every special range ipaddr.js knows. */
const v4Range = (ip: ipaddr.IPv4) => ip.range();

/**
 * The range of an IPv6 address; transition forms that embed an IPv4 address (NAT64
 * 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32) are as public as what they embed.
 */
function v6Range(ip: ipaddr.IPv6): string {
  const range = ip.range();
  const p = ip.parts as number[];
  const embedded = (label: string, ...v4s: ipaddr.IPv4[]) => {
    const bad = v4s.map(v4Range).find((r) => r !== "unicast");
    return bad === undefined ? "unicast" : `${label} of ${bad}`;
  };
  switch (range) {
    case "rfc6052":
      // Only the well-known prefix embeds a routable address; 64:ff9b:1::/48 is local use.
      return p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0
        ? embedded("nat64", v4From(p[6]!, p[7]!))
        : "nat64-local";
    case "6to4":
      return embedded("6to4", v4From(p[1]!, p[2]!));
    case "teredo":
      // Server address in clear, client address obfuscated (inverted) in the last 32 bits.
      return embedded("teredo", v4From(p[2]!, p[3]!), v4From(~p[6]! & 0xffff, ~p[7]! & 0xffff));
    case "unicast":
      // Only 2000::/3 is allocated as global unicast; anything else (e.g. the deprecated
      // IPv4-compatible ::a.b.c.d) is not a public destination.
      return (p[0]! & 0xe000) === 0x2000 ? "unicast" : "unallocated";
    default:
      return range;
  }
}

/**
 * Whether an outbound connection may go to this address. Accepts every notation
 * ipaddr.js parses (dotted, decimal, octal, hex IPv4; any IPv6 form).
 */
export function checkAddress(input: string, allow: AllowList = []): AddressVerdict {
  const text = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input;
  if (!ipaddr.isValid(text)) return { allowed: false, address: input, reason: "not-an-ip" };
  let ip: Ip = ipaddr.parse(text);
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress())
    ip = (ip as ipaddr.IPv6).toIPv4Address();
  const address = ip.toString();
  if (inAllowList(ip, allow)) return { allowed: true, address, reason: "allow-list" };
  const range = ip.kind() === "ipv4" ? v4Range(ip as ipaddr.IPv4) : v6Range(ip as ipaddr.IPv6);
  return range === "unicast"
    ? { allowed: true, address, reason: "public" }
    : { allowed: false, address, reason: range };
}
