import type { Device, IdentityClient } from "../../companion-services/identity/client.ts";
import { forbidden, MatrixError, notFound } from "../../companion-services/platform/errors.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import { parseUserIdParam, serverNameOf } from "../ids.ts";

type Connection = { ip: string; last_seen: number; user_agent: string };

/**
 * One session per device, its one connection the device's last use. Identity does not record user
 * agents: "" then, as Synapse stores a request without one.
 */
export function deviceInfo(d: Device): { sessions: { connections: Connection[] }[] } {
  const connections: Connection[] =
    d.lastSeenTs === null ? [] : [{ ip: d.lastSeenIp ?? "", last_seen: d.lastSeenTs, user_agent: "" }];
  return { sessions: [{ connections }] };
}

/** GET /admin/whois/{userId} (spec "Server administration"): a server admin, or the user themself. */
export function mountWhoisRoutes(router: Router, identity: IdentityClient, serverName: string): void {
  router.get("/_matrix/client/v3/admin/whois/:userId", async (req) => {
    const target = parseUserIdParam(req.params.userId!);
    const caller = req.auth!.userId;
    if (target !== caller && !(await identity.getUser(caller))?.isAdmin)
      throw forbidden("You are not a server admin.");
    if (serverNameOf(target) !== serverName)
      throw new MatrixError(400, "M_UNKNOWN", "Can only whois a local user.");
    if (!(await identity.getUser(target))) throw notFound("User not found.");
    const devices: Record<string, ReturnType<typeof deviceInfo>> = {};
    for (const d of await identity.listDevices(target)) devices[d.deviceId] = deviceInfo(d);
    return { body: { user_id: target, devices } };
  });
}
