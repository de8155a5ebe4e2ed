import ipaddr from "ipaddr.js";

/** What a preview may connect to besides the public internet. */
export type AddressPolicy = { allowLoopback: boolean };

/** IPv6 global unicast, 2000::/3: every other IPv6 block is special-purpose or unassigned. */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR("2000::/3");

/**
 * Why `address` (an IPv4 or IPv6 literal, no brackets) must not be fetched, or null when it is a
 * public unicast address. An allowlist, not a blocklist: only what ipaddr.js calls `unicast`
 * passes (so private, loopback, link-local, unique-local, CGNAT, unspecified, broadcast,
 * multicast, reserved, documentation, benchmarking, NAT64, 6to4 and Teredo are all refused), and
 * IPv6 must also be global unicast (2000::/3). IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is judged as
 * the IPv4 address it carries. Loopback passes only when the policy allows it (tests). Anything
 * that does not parse is refused.
 */
export function blockReason(address: string, policy: AddressPolicy): string | null {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(bare.split("%")[0]!);
  } catch {
    return "unparseable";
  }
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const range = parsed.range();
  if (range === "loopback") return policy.allowLoopback ? null : "loopback";
  if (range !== "unicast") return range;
  if (parsed.kind() === "ipv6" && !(parsed as ipaddr.IPv6).match(GLOBAL_UNICAST_V6))
    return "not global unicast";
  return null;
}

export function isBlockedAddress(address: string, policy: AddressPolicy): boolean {
  return blockReason(address, policy) !== null;
}

/** True when `host` (a URL's hostname, IPv6 in brackets or not) is an IP literal. */
export function isIpLiteral(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return ipaddr.isValid(bare) && (bare.includes(":") || ipaddr.IPv4.isValidFourPartDecimal(bare));
}
