import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupFunction } from "node:net";
import { forbidden, MatrixError } from "../../platform/errors.ts";
import { type AddressPolicy, blockReason, isIpLiteral } from "./ip-policy.ts";

/** Resolves a host name to every address it has (the system resolver by default). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export type FetchLimits = {
  policy: AddressPolicy;
  /** Bytes read of a body at most; the rest is never read. */
  maxBytes: number;
  /** One deadline for the whole fetch: DNS, every redirect hop, headers and body. */
  timeoutMs: number;
  maxRedirects?: number;
  /** Refuse (502) rather than truncate a body over `maxBytes` (images: half of one is useless). */
  whole?: boolean;
  accept?: string;
};

export type Fetched = {
  /** The URL that answered, after redirects. */
  url: URL;
  contentType: string | null;
  bytes: Buffer;
  /** The body was longer than `maxBytes` and only its start was read. */
  truncated: boolean;
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = "Nova URL preview (Matrix homeserver)";

export const fetchFailed = (msg = "Failed to fetch the URL") => new MatrixError(502, "M_UNKNOWN", msg);
export const blockedTarget = () => forbidden("The URL points to an address the server does not fetch from");

/**
 * GETs `url` under the preview's guards. Each hop's host is resolved here and every address it
 * resolves to is checked against the address policy; one blocked address refuses the hop (403).
 * The connection then goes only to the checked addresses (the agent's `lookup` answers with them
 * and nothing else), so a second DNS answer cannot swap in another address (DNS rebinding).
 * Redirects are followed by hand, each hop checked the same way. Errors never carry the URL.
 */
export async function guardedFetch(
  url: URL,
  limits: FetchLimits,
  resolve: Resolver = systemResolver,
): Promise<Fetched> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  const maxRedirects = limits.maxRedirects ?? 5;
  // undici (~130 files) loads with the first preview, not with every server.
  const { Agent, request } = await import("undici");
  let current = url;
  try {
    for (let hop = 0; ; hop++) {
      if (current.protocol !== "http:" && current.protocol !== "https:")
        throw fetchFailed("Redirect to a non-HTTP URL");
      const addresses = await withDeadline(
        checkedAddresses(current.hostname, limits.policy, resolve),
        signal,
      );
      const agent = new Agent({
        connect: { lookup: pinnedLookup(addresses), timeout: limits.timeoutMs },
        headersTimeout: limits.timeoutMs,
        bodyTimeout: limits.timeoutMs,
        connections: 1,
        pipelining: 0,
      });
      try {
        const res = await request(current, {
          dispatcher: agent,
          method: "GET",
          signal,
          headers: {
            "user-agent": USER_AGENT,
            accept: limits.accept ?? "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.5",
            "accept-encoding": "identity",
          },
        });
        if (REDIRECTS.has(res.statusCode)) {
          discard(res.body);
          const location = header(res.headers, "location");
          if (!location) throw fetchFailed("Redirect without a location");
          if (hop >= maxRedirects) throw fetchFailed("Too many redirects");
          current = new URL(location, current);
          current.hash = "";
          continue;
        }
        if (res.statusCode < 200 || res.statusCode > 299) {
          discard(res.body);
          throw fetchFailed(`The URL answered HTTP ${res.statusCode}`);
        }
        const contentType = header(res.headers, "content-type") ?? null;
        const declared = Number(header(res.headers, "content-length") ?? Number.NaN);
        if (limits.whole && declared > limits.maxBytes) {
          discard(res.body);
          throw fetchFailed("The content is too large");
        }
        const chunks: Buffer[] = [];
        let total = 0;
        let truncated = false;
        for await (const chunk of res.body) {
          const buf = chunk as Buffer;
          if (total + buf.length > limits.maxBytes) {
            chunks.push(buf.subarray(0, limits.maxBytes - total));
            total = limits.maxBytes;
            truncated = true;
            discard(res.body);
            break;
          }
          chunks.push(buf);
          total += buf.length;
        }
        if (truncated && limits.whole) throw fetchFailed("The content is too large");
        return { url: current, contentType, bytes: Buffer.concat(chunks, total), truncated };
      } finally {
        await agent.destroy().catch(() => undefined);
      }
    }
  } catch (err) {
    if (err instanceof MatrixError) throw err;
    if (signal.aborted) throw fetchFailed("Timed out fetching the URL");
    throw fetchFailed();
  }
}

/** Every address `hostname` stands for, each allowed by the policy; else 403. */
export async function checkedAddresses(
  hostname: string,
  policy: AddressPolicy,
  resolve: Resolver,
): Promise<LookupAddress[]> {
  if (isIpLiteral(hostname)) {
    const bare = hostname.replace(/^\[|\]$/g, "");
    if (blockReason(bare, policy) !== null) throw blockedTarget();
    return [{ address: bare, family: bare.includes(":") ? 6 : 4 }];
  }
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(hostname);
  } catch {
    throw fetchFailed("Could not resolve the host");
  }
  if (addresses.length === 0) throw fetchFailed("Could not resolve the host");
  if (addresses.some((a) => blockReason(a.address, policy) !== null)) throw blockedTarget();
  return addresses;
}

/** A `lookup` for net/tls.connect that answers only with the already-checked addresses. */
export function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : 0;
    const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
    if (usable.length === 0) {
      const err: NodeJS.ErrnoException = new Error("no checked address of the requested family");
      err.code = "ENOTFOUND";
      callback(err, "", 0);
      return;
    }
    if (options.all) callback(null, usable);
    else callback(null, usable[0]!.address, usable[0]!.family);
  };
}

/** Stops reading a body; undici reports the abort as an error, which nobody else is listening for. */
function discard(body: { on(event: "error", fn: () => void): unknown; destroy(): unknown }): void {
  body.on("error", () => undefined);
  body.destroy();
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function withDeadline<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(fetchFailed("Timed out fetching the URL"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(fetchFailed("Timed out fetching the URL"));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
