import type { ZodType } from "zod";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD";

/** Who is calling: resolved from the access token by the identity service. */
export type AuthInfo = {
  userId: string;
  deviceId: string;
  /** Identity's session id; revoking the session revokes the token. */
  sessionId: string;
  isGuest: boolean;
  /** Shadow-banned by a server admin: sends and invites answer success and are dropped. */
  shadowBanned?: boolean;
};

export type Request = {
  method: HttpMethod;
  /** Path as received, before decoding. */
  path: string;
  /** The route pattern that matched, for metrics and logs. */
  route: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The query string as received (undecoded), for parameters whose encoding must be checked. */
  rawQuery: string;
  headers: Record<string, string>;
  ip: string;
  rawBody: Buffer;
  /** Parse the body as JSON against a schema: M_NOT_JSON if not JSON, M_BAD_JSON if it does not fit. */
  json<T>(schema: ZodType<T>): T;
  /** Body as parsed JSON of any shape (an empty body is `{}`); M_NOT_JSON when it is not JSON. */
  anyJson(): unknown;
  /** Present when the route requires or accepted an access token. */
  auth: AuthInfo | null;
  /** The id the request log and the X-Request-Id response header carry (HTTP only). */
  requestId?: string;
  /** Resolves when the client goes away; long-polls race it. */
  aborted: Promise<void>;
  isAborted(): boolean;
};

export type Response = {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw bytes instead of JSON (media downloads). */
  raw?: Buffer | Uint8Array;
};

export type Handler = (req: Request) => Promise<Response> | Response;

/**
 * Checked after authentication and before the handler (HTTP and in-process dispatch alike): a
 * rate limit throws M_LIMIT_EXCEEDED. Answers undefined for routes it does not limit, so those
 * pay no await.
 */
export type RequestLimiter = { check(req: Request): Promise<void> | undefined };

export type RouteOptions = {
  /** "required" rejects without a valid token, "optional" resolves one if given. Default "required". */
  auth?: "required" | "optional" | "none";
  /** Body size limit in bytes for this route; defaults to the server's request limit. */
  maxBody?: number;
};

type Route = {
  method: HttpMethod;
  pattern: string;
  segments: string[];
  handler: Handler;
  options: RouteOptions;
};

export type Match =
  | { kind: "found"; route: Route; params: Record<string, string> }
  | { kind: "wrong-method" }
  | { kind: "none" };

const UNSTABLE = "/_matrix/client/unstable/";

/**
 * Routes by path segments. `:name` captures one segment (URL-decoded), `*name` captures the rest
 * of the path (possibly empty). `/_matrix/client/r0/` is served as `/v3/`, and so is an `/unstable/` path no route claims.
 */
export class Router {
  private readonly byLength = new Map<number, Route[]>();
  private readonly tails: Route[] = [];

  add(method: HttpMethod, pattern: string, handler: Handler, options: RouteOptions = {}): this {
    const segments = pattern.split("/").slice(1);
    const route: Route = { method, pattern, segments, handler, options };
    if (segments.some((s) => s.startsWith("*"))) {
      this.tails.push(route);
    } else {
      const list = this.byLength.get(segments.length) ?? [];
      list.push(route);
      this.byLength.set(segments.length, list);
    }
    return this;
  }

  get(p: string, h: Handler, o?: RouteOptions) {
    return this.add("GET", p, h, o);
  }
  post(p: string, h: Handler, o?: RouteOptions) {
    return this.add("POST", p, h, o);
  }
  put(p: string, h: Handler, o?: RouteOptions) {
    return this.add("PUT", p, h, o);
  }
  delete(p: string, h: Handler, o?: RouteOptions) {
    return this.add("DELETE", p, h, o);
  }

  match(method: string, rawPath: string): Match {
    const found = this.matchPath(method, rawPath.replace(/^\/_matrix\/client\/r0\//, "/_matrix/client/v3/"));
    // Endpoints the spec once served under /unstable/ (device_signing/upload, 3pid…) are still
    // called there by clients: an /unstable/ path no route claims is served as its v3 namesake.
    if (found.kind === "none" && rawPath.startsWith(UNSTABLE)) {
      return this.matchPath(method, `/_matrix/client/v3/${rawPath.slice(UNSTABLE.length)}`);
    }
    return found;
  }

  private matchPath(method: string, path: string): Match {
    const parts = path.split("/").slice(1);
    let wrongMethod = false;
    const candidates = [...(this.byLength.get(parts.length) ?? []), ...this.tails];
    for (const route of candidates) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      const effective = method === "HEAD" ? "GET" : method;
      if (route.method !== effective) {
        wrongMethod = true;
        continue;
      }
      return { kind: "found", route, params };
    }
    return wrongMethod ? { kind: "wrong-method" } : { kind: "none" };
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith("*")) {
      params[p.slice(1)] = parts.slice(i).map(safeDecode).join("/");
      return params;
    }
    const part = parts[i];
    if (part === undefined) return null;
    if (p.startsWith(":")) {
      params[p.slice(1)] = safeDecode(part);
    } else if (p !== part) {
      return null;
    }
  }
  return parts.length === pattern.length ? params : null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
