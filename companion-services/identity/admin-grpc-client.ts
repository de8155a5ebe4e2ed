import * as grpc from "@grpc/grpc-js";
import { type CallOptions, callUnary } from "../platform/rpc/client.ts";
import { loadService } from "../platform/rpc/proto.ts";
import type {
  AdminUser,
  IdentityAdminClient,
  RegistrationTokenPatch,
  UserListQuery,
} from "./admin-client.ts";
import { IDENTITY_ADMIN_PROTO } from "./admin-grpc.ts";
import type { RegistrationToken } from "./client.ts";
import {
  userFromWire as publicUserFromWire,
  tokenFromWire,
  type WireToken,
  type WireUser,
} from "./grpc-client.ts";

type WireAdminUser = WireUser & { shadow_banned?: boolean };

/**
 * IdentityAdminClient over gRPC: the homeserver's admin API when identity runs in another
 * process (`nova serve homeserver`). Reads are retried within their deadline; writes sent once.
 */
export class GrpcIdentityAdminClient implements IdentityAdminClient {
  private readonly client: grpc.Client;
  private readonly read: CallOptions;
  private readonly write: CallOptions;

  constructor(options: { address: string; deadlineMs?: number }) {
    const Ctor = loadService(IDENTITY_ADMIN_PROTO.file, IDENTITY_ADMIN_PROTO.service);
    this.client = new Ctor(options.address, grpc.credentials.createInsecure(), { "grpc.enable_retries": 0 });
    const deadlineMs = options.deadlineMs ?? 5_000;
    this.read = { deadlineMs, retries: 2 };
    // Reactivation hashes a password (argon2id).
    this.write = { deadlineMs: Math.max(deadlineMs, 10_000), retries: 0 };
  }

  close(): void {
    this.client.close();
  }

  async listUsers(q: UserListQuery): Promise<{ users: AdminUser[]; total: number }> {
    const r = await this.call<{ users?: WireAdminUser[]; total?: number }>(
      "ListUsers",
      {
        from: q.from,
        limit: q.limit,
        user_id: q.userId,
        name: q.name,
        guests: q.guests,
        deactivated: q.deactivated,
        admins: q.admins,
        order_by: q.orderBy,
        dir: q.dir,
      },
      this.read,
    );
    return { users: (r.users ?? []).map(userFromWire), total: r.total ?? 0 };
  }

  async getAdminUser(userId: string): Promise<AdminUser | null> {
    const r = await this.call<{ user?: WireAdminUser }>("GetAdminUser", { user_id: userId }, this.read);
    return r.user ? userFromWire(r.user) : null;
  }

  async setAdmin(userId: string, admin: boolean): Promise<boolean> {
    return this.flag("SetAdmin", { user_id: userId, value: admin });
  }

  async setShadowBanned(userId: string, banned: boolean): Promise<boolean> {
    return this.flag("SetShadowBanned", { user_id: userId, value: banned });
  }

  async reactivate(userId: string, password: string): Promise<boolean> {
    return this.flag("Reactivate", { user_id: userId, password });
  }

  async listRegistrationTokens(valid?: boolean): Promise<RegistrationToken[]> {
    const r = await this.call<{ tokens?: WireToken[] }>("ListRegistrationTokens", { valid }, this.read);
    return (r.tokens ?? []).map(tokenFromWire);
  }

  async getRegistrationToken(token: string): Promise<RegistrationToken | null> {
    const r = await this.call<{ token?: WireToken }>("GetRegistrationToken", { token }, this.read);
    return r.token ? tokenFromWire(r.token) : null;
  }

  async updateRegistrationToken(
    token: string,
    patch: RegistrationTokenPatch,
  ): Promise<RegistrationToken | null> {
    const r = await this.call<{ token?: WireToken }>(
      "UpdateRegistrationToken",
      {
        token,
        set_uses_allowed: patch.usesAllowed !== undefined,
        uses_allowed: patch.usesAllowed ?? undefined,
        set_expiry_time: patch.expiryTime !== undefined,
        expiry_time: patch.expiryTime ?? undefined,
      },
      this.write,
    );
    return r.token ? tokenFromWire(r.token) : null;
  }

  async deleteRegistrationToken(token: string): Promise<boolean> {
    return this.flag("DeleteRegistrationToken", { token });
  }

  private async flag(method: string, request: unknown): Promise<boolean> {
    return (await this.call<{ value?: boolean }>(method, request, this.write)).value ?? false;
  }

  private call<Res>(method: string, request: unknown, options: CallOptions): Promise<Res> {
    return callUnary<Res>(this.client, method, request, options);
  }
}

function userFromWire(u: WireAdminUser): AdminUser {
  return { ...publicUserFromWire(u), shadowBanned: u.shadow_banned ?? false };
}
