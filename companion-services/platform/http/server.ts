import uWS from "uWebSockets.js";
import type { ZodType } from "zod";
import {
  badJson,
  fromZod,
  invalidParam,
  MatrixError,
  methodNotAllowed,
  missingToken,
  notJson,
  tooLarge,
  unrecognized,
} from "../errors.ts";
import type { Logger } from "../logger.ts";
import { httpRequestDuration } from "../metrics.ts";
import { checkJsonText, hasNul, jsonVerdictMessage } from "./json-guard.ts";
import { listenFailure } from "./listen-error.ts";
import { RequestLog, requestIdOf } from "./request-log.ts";
import type { AuthInfo, HttpMethod, Request, RequestLimiter, Response, Router } from "./router.ts";

/** One call run through the router in-process (see HttpServer.dispatch). */
export type DispatchCall = {
  method: string;
  /** Path, optionally with a query string. */
  path: string;
  body: unknown;
  auth: AuthInfo;
  ip: string;
  aborted: Promise<void>;
  isAborted: () => boolean;
};

/** uWS's LIBUS_LISTEN_EXCLUSIVE_PORT (exported by the binary; typed only as an enum member). */
const EXCLUSIVE_PORT =
  (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1;

type ListenWithOptions = {
  listen(
    host: string,
    port: number,
    options: number,
    cb: (socket: uWS.us_listen_socket | false) => void,
  ): void;
};

export type Authenticator = (accessToken: string) => Promise<AuthInfo>;

export type HttpServerOptions = {
  router: Router;
  authenticate: Authenticator;
  logger: Logger;
  maxRequestBody: number;
  /** NOVA_SLOW_REQUEST_MS: requests slower than this are logged at warn (default 1000). */
  slowRequestMs?: number;
  /** Rate limits (server/rate-limits.ts), after authentication. */
  limiter?: RequestLimiter;
};

/** On every response: CORS for browser clients, and no content sniffing of what Nova answers. */
const CORS_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
  // Tus-* and Upload-* for resumable uploads from browsers (media's /_nova/v1/media/uploads).
  // Browser clients may read the request id to quote it in a bug report.
  "Access-Control-Expose-Headers": "X-Request-Id",
  "Access-Control-Allow-Headers":
    "X-Requested-With, Content-Type, Authorization, Range, If-None-Match, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Defer-Length, Upload-Concat",
};

const STATUS_TEXT: Record<number, string> = {
  200: "200 OK",
  201: "201 Created",
  202: "202 Accepted",
  204: "204 No Content",
  206: "206 Partial Content",
  302: "302 Found",
  304: "304 Not Modified",
  307: "307 Temporary Redirect",
  308: "308 Permanent Redirect",
  400: "400 Bad Request",
  401: "401 Unauthorized",
  403: "403 Forbidden",
  404: "404 Not Found",
  405: "405 Method Not Allowed",
  409: "409 Conflict",
  410: "410 Gone",
  412: "412 Precondition Failed",
  413: "413 Payload Too Large",
  415: "415 Unsupported Media Type",
  416: "416 Range Not Satisfiable",
  429: "429 Too Many Requests",
  500: "500 Internal Server Error",
  501: "501 Not Implemented",
  502: "502 Bad Gateway",
  503: "503 Service Unavailable",
  504: "504 Gateway Timeout",
};

/**
 * The HTTP front every service serves from (the homeserver, and any companion service in its own
 * process), on uWebSockets.js. uWS rules honoured here: the request object is read
 * synchronously before any await, every async response has an abort handler, a response is never
 * touched after abort, and writes are corked.
 */
export class HttpServer {
  readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | null = null;
  private inFlight = 0;
  private draining = false;
  private readonly drainHooks: (() => Promise<void> | void)[] = [];
  private readonly requestLog: RequestLog;

  constructor(private readonly opts: HttpServerOptions) {
    this.requestLog = new RequestLog(opts.logger, opts.slowRequestMs ?? 1000);
    this.app = uWS.App();
    this.app.any("/*", (res, req) => this.onRequest(res, req));
  }

  /**
   * Binds exclusively by default: uWS otherwise sets SO_REUSEPORT, and a second server started on
   * a busy port would silently share it (requests alternating between two servers). Replicas that
   * are meant to share one port ask for it (`reusePort`, NOVA_REUSE_PORT). A busy address rejects
   * with AddressInUseError.
   */
  async listen(host: string, port: number, opts: { reusePort?: boolean } = {}): Promise<number> {
    const flags = opts.reusePort ? 0 : EXCLUSIVE_PORT;
    const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => {
      // The typings of this uWS build lack the (host, port, options, cb) overload its binary has.
      (this.app as unknown as ListenWithOptions).listen(host, port, flags, resolve);
    });
    if (!socket) throw await listenFailure(host, port);
    this.listenSocket = socket;
    return uWS.us_socket_local_port(socket);
  }

  /**
   * Runs `fn` on shutdown once the listen socket is closed and before open connections are cut:
   * the WebSocket transport tells its clients to reconnect here.
   */
  onDrain(fn: () => Promise<void> | void): void {
    this.drainHooks.push(fn);
  }

  /** Whether close() has begun (new WebSocket upgrades are refused). */
  isDraining(): boolean {
    return this.draining;
  }

  /** Stops accepting connections and waits (bounded) for in-flight requests to finish. */
  async close(timeoutMs = 5000): Promise<void> {
    this.draining = true;
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    for (const fn of this.drainHooks) {
      try {
        await fn();
      } catch (err) {
        this.opts.logger.error({ err }, "drain hook failed");
      }
    }
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // Builds of uWS older than its typings have no close(): call it only where it exists.
    (this.app as unknown as { close?: () => void }).close?.();
  }

  /**
   * Runs one Client-Server API call in-process through the router, exactly as if it had arrived
   * over HTTP with the caller's access token (the WebSocket transport's request frames). The caller
   * is already authenticated; routes with `auth: "none"` see no caller, as over HTTP.
   */
  async dispatch(call: DispatchCall): Promise<{ status: number; body: unknown }> {
    const method = call.method.toUpperCase();
    const q = call.path.indexOf("?");
    const path = q < 0 ? call.path : call.path.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : call.path.slice(q + 1));
    const asError = (err: MatrixError) => ({ status: err.status, body: err.toJSON() });
    if (this.draining) return asError(new MatrixError(503, "M_UNKNOWN", "Server is shutting down"));
    const match = this.opts.router.match(method, path);
    if (match.kind === "none") return asError(unrecognized());
    if (match.kind === "wrong-method") return asError(methodNotAllowed());
    const { route, params } = match;
    const text = call.body === undefined ? "" : JSON.stringify(call.body);
    const rawBody = Buffer.from(text, "utf8");
    if (rawBody.length > (route.options.maxBody ?? this.opts.maxRequestBody)) return asError(tooLarge());
    const started = performance.now();
    const anyJson = (): unknown => (call.body === undefined ? {} : call.body);
    const request: Request = {
      method: method as HttpMethod,
      path,
      route: route.pattern,
      params,
      query,
      rawQuery: q < 0 ? "" : call.path.slice(q + 1),
      headers: { "content-type": "application/json" },
      ip: call.ip,
      rawBody,
      anyJson,
      json: <T>(schema: ZodType<T>): T => parseBody(anyJson(), schema),
      auth: (route.options.auth ?? "required") === "none" ? null : call.auth,
      aborted: call.aborted,
      isAborted: call.isAborted,
    };
    this.inFlight++;
    try {
      const limited = this.opts.limiter?.check(request);
      if (limited) await limited;
      const out = await route.handler(request);
      const status = out.status ?? 200;
      httpRequestDuration.observe(
        { method, route: `ws:${route.pattern}`, status: String(status) },
        (performance.now() - started) / 1000,
      );
      if (out.raw) {
        // Pre-serialized JSON (e.g. /keys/query keeps uploaded keys verbatim) travels as JSON;
        // other bytes (media) as base64 with their content type.
        const type = Object.entries(out.headers ?? {}).find(([k]) => k.toLowerCase() === "content-type")?.[1];
        const bytes = Buffer.from(out.raw);
        if (type?.includes("json")) {
          try {
            return { status, body: JSON.parse(bytes.toString("utf8")) as unknown };
          } catch {
            // not JSON after all: fall through
          }
        }
        return { status, body: { raw_base64: bytes.toString("base64"), content_type: type ?? null } };
      }
      return { status, body: out.body ?? {} };
    } catch (err) {
      if (err instanceof MatrixError) return asError(err);
      this.opts.logger.error({ err, route: route.pattern, method }, "unhandled error in handler (ws)");
      return asError(new MatrixError(500, "M_UNKNOWN", "Internal server error"));
    } finally {
      this.inFlight--;
    }
  }

  private onRequest(res: uWS.HttpResponse, req: uWS.HttpRequest): void {
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const queryString = req.getQuery() ?? "";
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = v;
    });
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
    const started = performance.now();
    const requestId = requestIdOf(headers["x-request-id"]);
    // The request once built, for the log's user and device.
    let current: Request | null = null;

    let aborted = false;
    let abortResolve: () => void = () => {};
    const abortedPromise = new Promise<void>((r) => {
      abortResolve = r;
    });
    // A request counts as in flight from its first body byte to its handler's end; a client that
    // goes away mid-body must not leave it counted, or close() would wait its whole timeout.
    let counted = false;
    let handling = false;
    const release = () => {
      if (counted) {
        counted = false;
        this.inFlight--;
      }
    };
    res.onAborted(() => {
      // The client left before an answer (a long-poll cancelled, a dropped upload): logged as 499.
      const ms = performance.now() - started;
      this.requestLog.record(
        method,
        path,
        queryString,
        current?.route ?? "aborted",
        499,
        ms,
        current?.auth ?? null,
        ip,
        requestId,
      );
      aborted = true;
      abortResolve();
      if (!handling) release();
    });

    const send = (
      status: number,
      body: Buffer | Uint8Array | string,
      extraHeaders: Record<string, string>,
      route: string,
    ) => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(STATUS_TEXT[status] ?? `${status} Status`);
        for (const [k, v] of Object.entries(CORS_HEADERS)) res.writeHeader(k, v);
        for (const [k, v] of Object.entries(extraHeaders)) res.writeHeader(k, v);
        res.writeHeader("X-Request-Id", requestId);
        // HEAD answers with the length GET would send, as a header: endWithoutBody(length) leaves
        // this uWS build's keep-alive connection waiting for the body.
        if (method === "HEAD") {
          res.writeHeader("Content-Length", String(byteLength(body)));
          res.endWithoutBody();
        } else {
          res.end(body);
        }
      });
      aborted = true;
      const ms = performance.now() - started;
      httpRequestDuration.observe({ method, route, status: String(status) }, ms / 1000);
      this.requestLog.record(
        method,
        path,
        queryString,
        route,
        status,
        ms,
        current?.auth ?? null,
        ip,
        requestId,
      );
    };
    const sendError = (err: MatrixError, route: string) =>
      send(err.status, JSON.stringify(err.toJSON()), errorHeaders(err), route);

    if (method === "OPTIONS") {
      send(200, "{}", { "Content-Type": "application/json" }, "OPTIONS");
      return;
    }
    if (this.draining) {
      sendError(new MatrixError(503, "M_UNKNOWN", "Server is shutting down"), "draining");
      return;
    }

    const match = this.opts.router.match(method, path);
    if (match.kind === "none") {
      sendError(unrecognized(), "unmatched");
      return;
    }
    if (match.kind === "wrong-method") {
      sendError(methodNotAllowed(), "unmatched");
      return;
    }
    const { route, params } = match;
    // A NUL (%00) in the path or the query would reach PostgreSQL, which cannot store it.
    if (Object.values(params).some(hasNul) || queryString.includes("%00")) {
      sendError(invalidParam("NUL characters are not allowed in the path or query"), route.pattern);
      return;
    }
    const limit = route.options.maxBody ?? this.opts.maxRequestBody;

    // Declared length over the limit: refuse before reading anything.
    const declared = Number(headers["content-length"] ?? "0");
    if (Number.isFinite(declared) && declared > limit) {
      sendError(tooLarge(), route.pattern);
      return;
    }

    this.inFlight++;
    counted = true;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    const hasBody = method !== "GET" && method !== "HEAD" && method !== "DELETE" ? true : declared > 0;
    const onBody = (body: Buffer) => {
      handling = true;
      const query = new URLSearchParams(queryString);
      let parsedJson: unknown;
      let jsonParsed = false;
      const anyJson = (): unknown => {
        if (!jsonParsed) {
          parsedJson = parseJsonBody(body);
          jsonParsed = true;
        }
        return parsedJson;
      };
      const request: Request = {
        method: method as HttpMethod,
        path,
        route: route.pattern,
        params,
        query,
        rawQuery: queryString,
        headers,
        ip,
        rawBody: body,
        anyJson,
        json: <T>(schema: ZodType<T>): T => parseBody(anyJson(), schema),
        auth: null,
        requestId,
        aborted: abortedPromise,
        isAborted: () => aborted,
      };
      current = request;
      this.handle(request, route.options.auth ?? "required", route.handler)
        .then((out) => {
          if (out.raw) {
            send(out.status ?? 200, out.raw, out.headers ?? {}, route.pattern);
          } else {
            send(
              out.status ?? 200,
              JSON.stringify(out.body ?? {}),
              { "Content-Type": "application/json", ...(out.headers ?? {}) },
              route.pattern,
            );
          }
        })
        .catch((err: unknown) => {
          if (err instanceof MatrixError) {
            sendError(err, route.pattern);
          } else {
            this.opts.logger.error({ err, route: route.pattern, method }, "unhandled error in handler");
            sendError(new MatrixError(500, "M_UNKNOWN", "Internal server error"), route.pattern);
          }
        })
        .finally(release);
    };

    if (!hasBody) {
      onBody(Buffer.alloc(0));
      return;
    }
    // With a declared length the body is copied once, into a buffer of that size (a media upload
    // of 50 MiB arrives in thousands of chunks); otherwise chunks are kept and joined at the end.
    let whole: Buffer | null =
      declared > 0 && Number.isFinite(declared) ? Buffer.allocUnsafe(declared) : null;
    res.onData((ab, isLast) => {
      if (tooBig) return;
      const view = new Uint8Array(ab);
      if (size + view.byteLength > limit) {
        tooBig = true;
        release();
        sendError(tooLarge(), route.pattern);
        return;
      }
      // uWS reuses the ArrayBuffer after this callback returns: copy it.
      if (whole && size + view.byteLength <= whole.length) {
        whole.set(view, size);
      } else {
        if (whole) chunks.push(whole.subarray(0, size));
        whole = null;
        chunks.push(Buffer.from(view.slice()));
      }
      size += view.byteLength;
      if (!isLast) return;
      if (whole) onBody(size === whole.length ? whole : whole.subarray(0, size));
      else onBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
  }

  private async handle(
    request: Request,
    authMode: "required" | "optional" | "none",
    handler: (req: Request) => Promise<Response> | Response,
  ): Promise<Response> {
    if (authMode !== "none") {
      const token = extractAccessToken(request);
      if (token) {
        request.auth = await this.opts.authenticate(token);
      } else if (authMode === "required") {
        throw missingToken();
      }
    }
    const limited = this.opts.limiter?.check(request);
    if (limited) await limited;
    return handler(request);
  }
}

function byteLength(body: Buffer | Uint8Array | string): number {
  return typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
}

/** JSON, and for a rate limit the standard `Retry-After` (seconds) beside the body's retry_after_ms. */
function errorHeaders(err: MatrixError): Record<string, string> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  const ms = err.extra.retry_after_ms;
  if (err.status === 429 && typeof ms === "number")
    headers["Retry-After"] = String(Math.max(1, Math.ceil(ms / 1000)));
  return headers;
}

function extractAccessToken(req: Request): string | null {
  const header = req.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m) return m[1]!.trim();
  }
  return req.query.get("access_token");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A body as JSON: strict UTF-8 (invalid bytes are M_NOT_JSON, not silently replaced), at most
 * MAX_JSON_DEPTH deep and without NULs (M_BAD_JSON), then parsed. An empty body is `{}`.
 */
function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw notJson("Body is not valid UTF-8");
  }
  const verdict = checkJsonText(text);
  if (verdict !== "ok") throw badJson(jsonVerdictMessage(verdict));
  try {
    return JSON.parse(text);
  } catch {
    throw notJson();
  }
}

/** A request body for `Request.json`: a JSON object, parsed by the route's schema. */
function parseBody<T>(value: unknown, schema: ZodType<T>): T {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw notJson("Body must be a JSON object");
  }
  const r = schema.safeParse(value);
  if (!r.success) throw fromZod(r.error);
  return r.data;
}
