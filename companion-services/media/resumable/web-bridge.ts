import { invalidParam } from "../../platform/errors.ts";
import type { Request, Response } from "../../platform/http/router.ts";

/**
 * The platform's HTTP front and @tus/server 2 meet here, through tus's web API (`handleWeb`):
 * the front has already buffered the body (bounded by the route's `maxBody`) and authenticated
 * the caller, so a platform Request becomes a web `Request` with that body, and tus's web
 * `Response` becomes `{status, headers, raw}` again.
 */

/**
 * The origin the web Request is given. Locations are relative (`relativeLocation`), so neither
 * the client's Host nor forwarding headers ever reach tus.
 */
const ORIGIN = "http://nova.invalid";

/** Request headers tus must not see: framing is the front's, and the token was already used. */
const DROP_REQUEST = new Set(["host", "content-length", "transfer-encoding", "connection", "authorization"]);

/**
 * Response headers the front writes itself (uWS frames the body; CORS Allow-* are the front's,
 * written once for every response).
 */
const DROP_RESPONSE = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "access-control-allow-origin",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-allow-credentials",
  "access-control-expose-headers",
]);

/** The header carrying a completed upload's mxc URI (final PATCH, HEAD of a completed upload). */
export const CONTENT_URI_HEADER = "X-Nova-Content-Uri";

/** What a browser may read from tus responses. */
export const EXPOSED_HEADERS = [
  "Location",
  "Tus-Resumable",
  "Tus-Version",
  "Tus-Extension",
  "Tus-Max-Size",
  "Upload-Offset",
  "Upload-Length",
  "Upload-Metadata",
  "Upload-Expires",
  "Upload-Defer-Length",
  CONTENT_URI_HEADER,
].join(", ");

export function toWebRequest(req: Request): globalThis.Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (DROP_REQUEST.has(name.toLowerCase())) continue;
    try {
      headers.set(name, value);
    } catch {
      // A value the fetch API refuses is no header tus reads: leave it out.
    }
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  if (hasBody) headers.set("content-length", String(req.rawBody.length));
  const qs = req.query.toString();
  let url: URL;
  try {
    url = new URL(`${req.path}${qs ? `?${qs}` : ""}`, ORIGIN);
  } catch {
    throw invalidParam("Invalid request path");
  }
  return new globalThis.Request(url, {
    method: req.method,
    headers,
    // A view of the buffered body, not a copy (the front's buffers are never shared memory).
    body: hasBody
      ? new Uint8Array(req.rawBody.buffer as ArrayBuffer, req.rawBody.byteOffset, req.rawBody.byteLength)
      : null,
  });
}

/** Matrix errcodes for tus's statuses (tus's own text becomes the `error`). */
const ERRCODES: Record<number, string> = {
  400: "M_INVALID_PARAM",
  403: "M_MISSING_PARAM",
  404: "M_NOT_FOUND",
  409: "M_INVALID_PARAM",
  410: "M_NOT_FOUND",
  412: "M_MISSING_PARAM",
  413: "M_TOO_LARGE",
  415: "M_INVALID_PARAM",
  501: "M_UNRECOGNIZED",
};

/**
 * Back to the front's shape. tus's headers are kept (minus the front's own), the exposed list is
 * added for browsers, and an error's text becomes a Matrix error body (bodies that already are
 * one, from this module's hooks, pass unchanged). A HEAD answer never carries a body.
 */
export async function fromWebResponse(
  res: globalThis.Response,
  method: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!DROP_RESPONSE.has(name)) headers[name] = value;
  });
  Object.assign(headers, extra);
  headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS;
  const bytes = Buffer.from(await res.arrayBuffer());
  // tus's empty answers (204, HEAD) carry the fetch API's default text/plain type: no body, no type.
  if (bytes.length === 0) delete headers["content-type"];
  if (method === "HEAD" || res.status < 400) return { status: res.status, headers, raw: bytes };
  delete headers["content-type"];
  return { status: res.status, headers, body: matrixErrorBody(res.status, bytes.toString("utf8")) };
}

function matrixErrorBody(status: number, text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (
      typeof parsed === "object" &&
      parsed !== null &&
      typeof (parsed as { errcode?: unknown }).errcode === "string"
    ) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // tus's plain-text error
  }
  return { errcode: ERRCODES[status] ?? "M_UNKNOWN", error: text.trim() || `HTTP ${status}` };
}
