import { randomBytes } from "node:crypto";
import type { Logger } from "../logger.ts";
import type { AuthInfo } from "./router.ts";

/**
 * The request log: one pino line per HTTP request (msg "request") at `info`, at `warn` with
 * `slow: true` past the slow threshold. Built only when its level is on, from values the server
 * already has: no body is read or serialised. Fields in docs/monitoring.md.
 */
export class RequestLog {
  private readonly info: boolean;
  private readonly warn: boolean;

  constructor(
    private readonly logger: Logger,
    /** NOVA_SLOW_REQUEST_MS: a request slower than this is logged at warn with `slow: true`. */
    private readonly slowMs: number,
  ) {
    // The level is fixed for the logger's life: asked once, not per request.
    this.info = logger.isLevelEnabled("info");
    this.warn = logger.isLevelEnabled("warn");
  }

  record(
    method: string,
    path: string,
    query: string,
    route: string,
    status: number,
    ms: number,
    auth: AuthInfo | null,
    ip: string,
    requestId: string,
  ): void {
    // A long-poll (/sync, /events… with `timeout=`) waits on purpose: never slow for that.
    const slow = ms > this.slowMs && !asksTimeout(query);
    if (slow ? !this.warn : !this.info) return;
    const line = {
      method,
      path: redactPath(path, query),
      route,
      status,
      ms: Math.round(ms * 10) / 10,
      user: auth?.userId,
      device: auth?.deviceId,
      ip,
      request_id: requestId,
      slow: slow || undefined,
    };
    if (slow) this.logger.warn(line, "request");
    else this.logger.info(line, "request");
  }
}

/** A client's X-Request-Id is kept when it is short and plain; otherwise one is made. */
const SANE_ID = /^[A-Za-z0-9._:@+=-]{1,64}$/;
/** Per process: a random prefix and a counter (cheaper than a UUID per request, as unique here). */
const PREFIX = `${randomBytes(5).toString("hex")}-`;
let sequence = 0;

export function requestIdOf(incoming: string | undefined): string {
  if (incoming !== undefined && SANE_ID.test(incoming)) return incoming;
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
  return PREFIX + sequence.toString(36);
}

/** Query parameters whose values are secrets: access_token, login tokens, client_secret, passwords. */
const SECRET_PARAM = /(^|&)([^=&]*(?:token|secret|password)[^=&]*)=[^&]*/gi;
/** Path segments that are secrets: Nova's (and Synapse's) token formats, registration tokens. */
const SECRET_SEGMENT = /\/(?:nova_[ar]t_|sy[tr]_)[^/]*|(\/registration_tokens\/)[^/]+/g;

/** The path (and query) as logged: every token replaced by `<redacted>`. */
export function redactPath(path: string, query: string): string {
  const p = path.includes("_") ? path.replace(SECRET_SEGMENT, (_m, reg) => `${reg ?? "/"}<redacted>`) : path;
  if (query === "") return p;
  return `${p}?${query.replace(SECRET_PARAM, "$1$2=<redacted>")}`;
}

function asksTimeout(query: string): boolean {
  if (query === "" || !query.includes("timeout=")) return false;
  const m = /(?:^|&)timeout=(\d+)/.exec(query);
  return m !== null && Number(m[1]) > 0;
}
