import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import type { Logger } from "../platform/logger.ts";
import { loadService } from "../platform/rpc/proto.ts";
import { unary } from "../platform/rpc/server.ts";
import { type AdminUser, type IdentityAdminClient, USER_ORDER } from "./admin-client.ts";
import { tokenToWire, userToWire } from "./wire.ts";

export const IDENTITY_ADMIN_PROTO = {
  file: fileURLToPath(new URL("./identity-admin.proto", import.meta.url)),
  service: "nova.identity.v1.IdentityAdmin",
} as const;

const userId = z.string().startsWith("@").max(255);
const token = z.string().min(1).max(255);
const count = z.number().int().nonnegative();
const optCount = count.optional();

const schemas = {
  ListUsers: z.object({
    from: optCount,
    limit: optCount,
    user_id: z.string().max(255).optional(),
    name: z.string().max(255).optional(),
    guests: z.boolean().optional(),
    deactivated: z.boolean().optional(),
    admins: z.boolean().optional(),
    order_by: z.enum(USER_ORDER),
    dir: z.enum(["f", "b"]),
  }),
  User: z.object({ user_id: userId }),
  SetFlag: z.object({ user_id: userId, value: z.boolean().optional() }),
  Reactivate: z.object({ user_id: userId, password: z.string().min(1).max(1024) }),
  ListTokens: z.object({ valid: z.boolean().optional() }),
  Token: z.object({ token }),
  UpdateToken: z.object({
    token,
    set_uses_allowed: z.boolean().optional(),
    uses_allowed: optCount,
    set_expiry_time: z.boolean().optional(),
    expiry_time: optCount,
  }),
};

export const adminUserToWire = (u: AdminUser) => ({ ...userToWire(u), shadow_banned: u.shadowBanned });

/**
 * Adds identity's admin service to its gRPC server (the same port as Identity): what the
 * homeserver's admin API calls when identity runs in another process.
 */
export function addIdentityAdminService(
  server: grpc.Server,
  admin: IdentityAdminClient,
  logger: Logger,
): void {
  const Ctor = loadService(IDENTITY_ADMIN_PROTO.file, IDENTITY_ADMIN_PROTO.service);
  const u = <Req, Res>(method: string, schema: z.ZodType<Req>, fn: (req: Req) => Promise<Res>) =>
    unary<Req, Res>(logger, `admin.${method}`, schema, (req) => fn(req));
  server.addService(Ctor.service, {
    ListUsers: u("ListUsers", schemas.ListUsers, async (r) => {
      const { users, total } = await admin.listUsers({
        from: r.from ?? 0,
        limit: r.limit ?? 100,
        userId: r.user_id,
        name: r.name,
        guests: r.guests ?? false,
        deactivated: r.deactivated ?? false,
        admins: r.admins,
        orderBy: r.order_by,
        dir: r.dir,
      });
      return { users: users.map(adminUserToWire), total };
    }),
    GetAdminUser: u("GetAdminUser", schemas.User, async (r) => {
      const user = await admin.getAdminUser(r.user_id);
      return user ? { user: adminUserToWire(user) } : {};
    }),
    SetAdmin: u("SetAdmin", schemas.SetFlag, async (r) => ({
      value: await admin.setAdmin(r.user_id, r.value ?? false),
    })),
    SetShadowBanned: u("SetShadowBanned", schemas.SetFlag, async (r) => ({
      value: await admin.setShadowBanned(r.user_id, r.value ?? false),
    })),
    Reactivate: u("Reactivate", schemas.Reactivate, async (r) => ({
      value: await admin.reactivate(r.user_id, r.password),
    })),
    ListRegistrationTokens: u("ListRegistrationTokens", schemas.ListTokens, async (r) => ({
      tokens: (await admin.listRegistrationTokens(r.valid)).map(tokenToWire),
    })),
    GetRegistrationToken: u("GetRegistrationToken", schemas.Token, async (r) => {
      const t = await admin.getRegistrationToken(r.token);
      return t ? { token: tokenToWire(t) } : {};
    }),
    UpdateRegistrationToken: u("UpdateRegistrationToken", schemas.UpdateToken, async (r) => {
      const t = await admin.updateRegistrationToken(r.token, {
        ...(r.set_uses_allowed ? { usesAllowed: r.uses_allowed ?? null } : {}),
        ...(r.set_expiry_time ? { expiryTime: r.expiry_time ?? null } : {}),
      });
      return t ? { token: tokenToWire(t) } : {};
    }),
    DeleteRegistrationToken: u("DeleteRegistrationToken", schemas.Token, async (r) => ({
      value: await admin.deleteRegistrationToken(r.token),
    })),
  });
}
