import type { User } from "../../../companion-services/identity/client.ts";
import { forbidden } from "../../../companion-services/platform/errors.ts";
import type { NovaContext } from "../../context.ts";
import { serverNameOf } from "../../ids.ts";

/** Nova does not federate: an invite to another server's user could never be delivered. */
export function checkLocalUser(serverName: string, userId: string): void {
  if (serverNameOf(userId) !== serverName) {
    throw forbidden(`Cannot invite ${userId}: this server does not federate with other servers.`);
  }
}

/** displayname/avatar_url for a member event, from the identity service. */
export async function memberProfile(ctx: NovaContext, userId: string): Promise<Record<string, string>> {
  return profileOf(await ctx.identity.getUser(userId));
}

/** displayname/avatar_url for a member event, from a user identity already answered. */
export function profileOf(u: User | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (u?.displayname) out.displayname = u.displayname;
  if (u?.avatarUrl) out.avatar_url = u.avatarUrl;
  return out;
}
