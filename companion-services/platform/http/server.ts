import uWS from "uWebSockets.js";
import type { ZodType } from "zod";
import {
  invalidParam,
  MatrixError,
  methodNotAllowed,
  missingToken,
  tooLarge,
  unrecognized,
} from "../errors.ts";
import type { Logger } from "../logger.ts";
import { httpRequestDuration } from "../metrics.ts";
import { ClientAddress } from "./client-ip.ts";
import { hasNul } from "./json-guard.ts";
import { listenFailure } from "./listen-error.ts";
import { RequestLog, requestIdOf } from "./request-log.ts";
import type { AuthInfo, HttpMethod, Request, RequestLimiter, Response, Router } from "./router.ts";
import {
  byteLength,
  CORS_HEADERS,
  errorHeaders,
  extractAccessToken,
  parseBody,
  parseJsonBody,
  STATUS_TEXT,
} from "./wire.ts";

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
  /** NOVA_TRUSTED_PROXIES: whose X-Forwarded-For names the client (default: none, the peer is). */
  clientAddress?: ClientAddress;
};

export class HttpServer {
  readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | null = null;
  private inFlight = 0;
  private draining = false;
  private readonly drainHooks: (() => Promise<void> | void)[] = [];
  private readonly requestLog: RequestLog;

  private readonly clientAddress: ClientAddress;

  constructor(private readonly opts: HttpServerOptions) {
    this.clientAddress = opts.clientAddress ?? new ClientAddress([]);
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
    const ip = this.clientAddress.of(
      Buffer.from(res.getRemoteAddressAsText()).toString(),
      headers["x-forwarded-for"],
    );
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
