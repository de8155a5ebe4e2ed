import type { Agent, Dispatcher } from "undici";
import { readCapped } from "../../platform/http/read-capped.ts";

/** What one POST to a push gateway came to, as the worker acts on it. */
export type GatewayOutcome =
  | { kind: "ok"; status: number; rejected: string[] }
  | { kind: "retry"; status: number | null; error: string }
  | { kind: "failed"; status: number | null; error: string };

/** A gateway's answer is a small JSON object; more than this is not a push gateway talking. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** 408 and 429 say "later", like a 5xx; any other 4xx will not change by resending. */
const isRetryableStatus = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * POSTs notifications to push gateways (`/_matrix/push/v1/notify`) over one keep-alive agent,
 * each request bounded by `timeoutMs` end to end. Never throws: every failure is an outcome.
 * undici (~130 files) and the agent come with the first push: most servers never send one.
 */
export class PushGateway {
  private agent: Agent | null = null;
  private dispatcher: Dispatcher | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly connectionsPerOrigin: number,
    dispatcher?: Dispatcher,
  ) {
    this.dispatcher = dispatcher;
  }

  /** `stop` aborts the request early (the worker is shutting down); the outcome then says so. */
  async post(url: string, payload: unknown, stop?: AbortSignal): Promise<GatewayOutcome> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return { kind: "failed", status: null, error: "the pusher's url is not a URL" };
    }
    if (target.protocol !== "https:" && target.protocol !== "http:")
      return { kind: "failed", status: null, error: "the pusher's url is not http(s)" };
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = stop ? AbortSignal.any([deadline, stop]) : deadline;
    const { Agent, request } = await import("undici");
    if (!this.dispatcher) {
      this.agent = new Agent({
        keepAliveTimeout: 30_000,
        connections: Math.max(1, this.connectionsPerOrigin),
      });
      this.dispatcher = this.agent;
    }
    try {
      const res = await request(target, {
        method: "POST",
        dispatcher: this.dispatcher,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload),
        signal,
      });
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await res.body.dump();
        const error = `gateway answered ${res.statusCode}`;
        return isRetryableStatus(res.statusCode)
          ? { kind: "retry", status: res.statusCode, error }
          : { kind: "failed", status: res.statusCode, error };
      }
      const text = await readCapped(res.body, MAX_RESPONSE_BYTES, () => res.body.destroy());
      if (text === null) throw new Error(`gateway's answer is over ${MAX_RESPONSE_BYTES} bytes`);
      const rejected = parseRejected(text);
      // An unreadable 2xx body is treated as a failure (Synapse does too): the gateway is not well.
      if (rejected === null)
        return { kind: "retry", status: res.statusCode, error: "gateway's 2xx body is not a JSON object" };
      return { kind: "ok", status: res.statusCode, rejected };
    } catch (err) {
      if (stop?.aborted) return { kind: "retry", status: null, error: "aborted: the worker is stopping" };
      if (deadline.aborted)
        return { kind: "retry", status: null, error: `timeout after ${this.timeoutMs} ms` };
      return { kind: "retry", status: null, error: describe(err) };
    }
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}

/** The `rejected` pushkeys of a gateway's JSON answer; a missing list is none. Null: not JSON. */
export function parseRejected(text: string): string[] | null {
  let body: unknown;
  try {
    body = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return null;
  const rejected = (body as { rejected?: unknown }).rejected;
  if (!Array.isArray(rejected)) return [];
  return rejected.filter((k): k is string => typeof k === "string");
}

/** Network errors name the code (ECONNREFUSED…), not the URL, which may carry a secret. */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    const c = typeof code === "string" ? code : typeof cause === "string" ? cause : null;
    return c ? `${c}: ${err.message}` : err.message;
  }
  return String(err);
}
