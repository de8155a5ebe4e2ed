import type { ZodType } from "zod";
import { badJson, fromZod, type MatrixError, notJson } from "../errors.ts";
import { checkJsonText, jsonVerdictMessage } from "./json-guard.ts";
import type { Request } from "./router.ts";

// What goes on the wire for every listener: the headers and status lines of a response, and how a
// request's token and JSON body are read.

/** On every response: CORS for browser clients, and no content sniffing of what Nova answers. */
export const CORS_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
  // Tus-* and Upload-* for resumable uploads from browsers (media's /_nova/v1/media/uploads).
  // Browser clients may read the request id to quote it in a bug report.
  "Access-Control-Expose-Headers": "X-Request-Id",
  "Access-Control-Allow-Headers":
    "X-Requested-With, Content-Type, Authorization, Range, If-None-Match, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Defer-Length, Upload-Concat",
};

export const STATUS_TEXT: Record<number, string> = {
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
export function byteLength(body: Buffer | Uint8Array | string): number {
  return typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
}

/** JSON, and for a rate limit the standard `Retry-After` (seconds) beside the body's retry_after_ms. */
export function errorHeaders(err: MatrixError): Record<string, string> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  const ms = err.extra.retry_after_ms;
  if (err.status === 429 && typeof ms === "number")
    headers["Retry-After"] = String(Math.max(1, Math.ceil(ms / 1000)));
  return headers;
}

export function extractAccessToken(req: Request): string | null {
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
export function parseJsonBody(body: Buffer): unknown {
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
export function parseBody<T>(value: unknown, schema: ZodType<T>): T {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw notJson("Body must be a JSON object");
  }
  const r = schema.safeParse(value);
  if (!r.success) throw fromZod(r.error);
  return r.data;
}
