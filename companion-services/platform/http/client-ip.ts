import ipaddr from "ipaddr.js";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** One address (`10.0.0.1`, `::1`) or range (`10.0.0.0/8`) of NOVA_TRUSTED_PROXIES. */
export function isAddressOrRange(s: string): boolean {
  return parseRange(s) !== null;
}

function parseRange(s: string): Range | null {
  try {
    if (s.includes("/")) return ipaddr.parseCIDR(s);
    const addr = ipaddr.process(s);
    return [addr, addr.kind() === "ipv4" ? 32 : 128];
  } catch {
    return null;
  }
}

/** An address as it is written in logs: IPv4-mapped IPv6 (what uWS reports for v4 peers) as IPv4. */
function normalise(s: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(s.trim());
  } catch {
    return null;
  }
}

/**
 * The client's address behind trusted reverse proxies: the peer, unless the peer is a trusted
 * proxy, then X-Forwarded-For read from the right, skipping trusted hops, as nginx's
 * `real_ip_recursive` does. Entries a client wrote itself sit left of the first untrusted hop and
 * are never believed. With no trusted proxies the header is ignored.
 */
export class ClientAddress {
  private readonly ranges: Range[];

  constructor(trusted: readonly string[]) {
    this.ranges = trusted.map((t) => {
      const r = parseRange(t);
      if (!r) throw new Error(`not an IP address or CIDR range: ${t}`);
      return r;
    });
  }

  of(peer: string, forwardedFor: string | undefined): string {
    const peerAddr = normalise(peer);
    const shown = peerAddr?.toString() ?? peer;
    if (this.ranges.length === 0 || !peerAddr || !this.trusted(peerAddr) || !forwardedFor) return shown;
    const hops = forwardedFor.split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalise(hops[i]!);
      if (!hop) return shown; // a malformed entry: believe nothing further left
      if (!this.trusted(hop) || i === 0) return hop.toString();
    }
    return shown;
  }

  private trusted(addr: ipaddr.IPv4 | ipaddr.IPv6): boolean {
    return this.ranges.some(([range, bits]) => addr.kind() === range.kind() && addr.match(range, bits));
  }
}
