import { MatrixError } from "../companion-services/platform/errors.ts";
import {
  type Handler,
  type HttpMethod,
  type RouteOptions,
  Router,
} from "../companion-services/platform/http/router.ts";

const C = "/_matrix/client/(?:v3|r0)";
const ID = "[^/]+";

/**
 * What a guest may call: the spec's Guest Access module ("Client behaviour") lists these, and
 * Synapse allows guests the same (plus the media downloads, the TURN servers, filters, logout
 * and POST /publicRooms, which it also serves to guests). Anything else answers a guest 403
 * M_GUEST_ACCESS_FORBIDDEN.
 */
const GUEST_ENDPOINTS: Record<"GET" | "PUT" | "POST", RegExp[]> = {
  GET: [
    `${C}/rooms/${ID}/state(?:/.*)?`,
    `${C}/rooms/${ID}/context/${ID}`,
    `${C}/rooms/${ID}/event/${ID}`,
    `${C}/rooms/${ID}/messages`,
    `${C}/rooms/${ID}/members`,
    `${C}/rooms/${ID}/joined_members`,
    `${C}/rooms/${ID}/initialSync`,
    `${C}/sync`,
    `${C}/events`,
    `${C}/profile/${ID}(?:/displayname|/avatar_url)?`,
    `${C}/publicRooms`,
    `${C}/devices(?:/${ID})?`,
    `${C}/account/whoami`,
    `${C}/keys/changes`,
    `${C}/voip/turnServer`,
    `${C}/user/${ID}/filter/${ID}`,
    `${C}/capabilities`,
    "/_matrix/client/v1/media/.*",
    "/_matrix/media/.*",
  ].map(anchored),
  PUT: [
    `${C}/rooms/${ID}/send/${ID}/${ID}`,
    `${C}/sendToDevice/${ID}/${ID}`,
    `${C}/devices/${ID}`,
    `${C}/profile/${ID}/displayname`,
    `${C}/rooms/${ID}/typing/${ID}`,
  ].map(anchored),
  POST: [
    `${C}/rooms/${ID}/(?:join|leave|read_markers)`,
    `${C}/rooms/${ID}/receipt/${ID}/${ID}`,
    `${C}/join/${ID}`,
    `${C}/keys/(?:upload|query|claim)`,
    `${C}/publicRooms`,
    `${C}/user/${ID}/filter`,
    `${C}/logout`,
  ].map(anchored),
};

function anchored(source: string): RegExp {
  return new RegExp(`^${source}$`);
}

/** Whether a guest may call this path (as received, before decoding). */
export function guestMayCall(method: string, path: string): boolean {
  const m = method === "HEAD" ? "GET" : method;
  const list = m === "GET" || m === "PUT" || m === "POST" ? GUEST_ENDPOINTS[m] : [];
  return list.some((re) => re.test(path));
}

/**
 * The homeserver's router: every route it registers refuses guests outside the Guest Access
 * endpoints, so no area has to remember to. Routes without a caller (`auth: "none"`) are not
 * affected.
 */
export class GuestAwareRouter extends Router {
  override add(method: HttpMethod, pattern: string, handler: Handler, options: RouteOptions = {}): this {
    const guarded: Handler = (req) => {
      if (req.auth?.isGuest && !guestMayCall(req.method, req.path)) {
        throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is not allowed here.");
      }
      return handler(req);
    };
    return super.add(method, pattern, guarded, options);
  }
}
