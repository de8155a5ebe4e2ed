/**
 * Runs an existing Matrix client (e.g. matrix-js-sdk: `createClient({ fetchFn })`) over one Nova
 * sync socket: its `/sync` long-polls are answered from the pushed deltas, and every other
 * Client-Server API call travels as a `request` frame. Calls the socket cannot carry (non-JSON
 * bodies such as media uploads, paths outside `/_matrix/`) go to `fallback` (global fetch).
 *
 * Acknowledgement follows the long-poll contract: a `/sync?since=X` from the client means it has
 * processed X, so X is acknowledged then (to-device messages up to X are deleted).
 */
import type { NovaSyncClient, SyncBody } from "./index.ts";

type FetchLike = (input: string | URL | { url: string }, init?: RequestInit) => Promise<Response>;

export function socketFetch(client: NovaSyncClient, opts: { fallback?: FetchLike } = {}): FetchLike {
  const fallback = opts.fallback ?? ((input, init) => fetch(input as string, init));
  const queue: SyncBody[] = [];
  let waiter: (() => void) | null = null;
  /** The token the last answered /sync returned: the next /sync continues from it. */
  let given: string | null | undefined;
  client.onSync((body) => {
    queue.push(body);
    waiter?.();
  });

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

  async function sync(url: URL): Promise<Response> {
    const since = url.searchParams.get("since");
    const filterParam = url.searchParams.get("filter");
    const timeoutMs = Math.min(Number(url.searchParams.get("timeout") ?? "0") || 0, 120_000);
    await client.waitReady();
    if (since !== given || given === undefined) {
      // A new subscription (first sync, or the client went back to an older token).
      queue.length = 0;
      const filter = filterParam
        ? filterParam.startsWith("{")
          ? JSON.parse(filterParam)
          : filterParam
        : undefined;
      client.subscribe({ since, ...(filter !== undefined ? { filter } : {}) });
    }
    if (since) client.ack(since);
    if (queue.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, given === undefined ? 60_000 : timeoutMs);
        waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      waiter = null;
    }
    const body = queue.shift();
    if (!body) return json(200, { next_batch: since ?? "" });
    given = body.next_batch;
    return json(200, body);
  }

  return async (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const method = (init.method ?? "GET").toUpperCase();
    if (!url.pathname.startsWith("/_matrix/") || !["GET", "POST", "PUT", "DELETE"].includes(method)) {
      return fallback(input, init);
    }
    if (method === "GET" && /\/_matrix\/client\/(v3|r0)\/sync$/.test(url.pathname)) return sync(url);
    let body: unknown;
    if (init.body !== undefined && init.body !== null) {
      if (typeof init.body !== "string") return fallback(input, init);
      try {
        body = init.body === "" ? undefined : JSON.parse(init.body);
      } catch {
        return fallback(input, init);
      }
    }
    await client.waitReady();
    const r = await client.request(
      method as "GET" | "POST" | "PUT" | "DELETE",
      url.pathname + url.search,
      body,
    );
    return json(r.status, r.body);
  };
}
