import { isDeepStrictEqual } from "node:util";
import { forbidden, MatrixError, notFound } from "../../../companion-services/platform/errors.ts";
import { parseRoomId } from "../../ids.ts";
import type { RoomsCore } from "../core.ts";
import { membershipIn } from "../events.ts";
import type { RoomWriter } from "../write/persist.ts";
import { guestsCanJoin } from "./guests.ts";
import { checkLocalUser, memberProfile, profileOf } from "./profiles.ts";

/** The membership verbs of the client API: join, leave, invite, kick, ban, unban, forget. */
export class MembershipVerbs {
  constructor(
    private readonly core: RoomsCore,
    private readonly writer: RoomWriter,
  ) {}

  /** Resolves a room id or a local alias; 404 when the alias is unknown. */
  async resolveRoom(roomIdOrAlias: string): Promise<string> {
    if (roomIdOrAlias.startsWith("#")) {
      const row = await this.core.repo.conversations.getAlias(roomIdOrAlias);
      if (!row) throw notFound("Room alias not found.");
      return row.room_id;
    }
    return parseRoomId(roomIdOrAlias);
  }

  /**
   * Joins the user. `extra` is the rest of the client's join body: kept in the member event's
   * content as Synapse keeps it (custom keys, a per-room displayname or avatar_url over the profile's).
   */
  async join(
    userId: string,
    roomIdOrAlias: string,
    reason?: string,
    extra: Record<string, unknown> = {},
  ): Promise<string> {
    const roomId = await this.resolveRoom(roomIdOrAlias);
    const user = await this.core.ctx.identity.getUser(userId);
    const profile = profileOf(user);
    await this.writer.persist(
      roomId,
      (snap) => {
        // Spec "Guest Access": a guest joins only rooms whose guest_access is can_join.
        if (user?.isGuest && !guestsCanJoin(snap))
          throw forbidden("Guest access is not allowed in this room.");
        const current = snap.get("m.room.member", userId);
        const content: Record<string, unknown> = { ...profile, ...extra, membership: "join" };
        if (reason !== undefined) content.reason = reason;
        if (
          current &&
          current.pdu.content.membership === "join" &&
          isDeepStrictEqual(current.pdu.content, content)
        ) {
          return { drafts: [], existing: current.eventId };
        }
        return { drafts: [{ type: "m.room.member", stateKey: userId, content, sender: userId }] };
      },
      { missing: () => notFound("Unknown room.") },
    );
    return roomId;
  }

  async leave(userId: string, roomId: string, reason?: string): Promise<void> {
    await this.setMembership(userId, roomId, userId, "leave", reason);
  }

  async invite(
    sender: string,
    roomId: string,
    target: string,
    reason?: string,
    isDirect?: boolean,
  ): Promise<void> {
    checkLocalUser(this.core.serverName, target);
    const profile = await memberProfile(this.core.ctx, target);
    await this.writer.persist(roomId, (snap) => {
      const current = membershipIn(snap, target);
      if (current === "join") throw forbidden(`${target} is already in the room.`);
      if (current === "ban") throw forbidden(`${target} is banned from the room.`);
      const content: Record<string, unknown> = { membership: "invite", ...profile };
      if (reason !== undefined) content.reason = reason;
      if (isDirect) content.is_direct = true;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  async kick(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    await this.writer.persist(roomId, (snap) => {
      const current = membershipIn(snap, target);
      if (membershipIn(snap, sender) !== "join") throw forbidden("You are not in this room.");
      if (current !== "join" && current !== "invite" && current !== "knock") {
        throw forbidden(`${target} is not in the room.`);
      }
      const content: Record<string, unknown> = { membership: "leave" };
      if (reason !== undefined) content.reason = reason;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  async ban(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    await this.setMembership(sender, roomId, target, "ban", reason);
  }

  async unban(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    await this.writer.persist(roomId, (snap) => {
      if (membershipIn(snap, sender) !== "join") throw forbidden("You are not in this room.");
      if (membershipIn(snap, target) !== "ban") throw forbidden(`${target} is not banned.`);
      const content: Record<string, unknown> = { membership: "leave" };
      if (reason !== undefined) content.reason = reason;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  private async setMembership(
    sender: string,
    roomId: string,
    target: string,
    membership: string,
    reason?: string,
  ): Promise<void> {
    await this.writer.persist(roomId, () => {
      const content: Record<string, unknown> = { membership };
      if (reason !== undefined) content.reason = reason;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  /** POST /forget: only once the user has left or been banned (spec: 400 otherwise). */
  async forget(userId: string, roomId: string): Promise<void> {
    const { ctx, repo } = this.core;
    const snap = await this.core.snapshots.get(roomId);
    const m = snap ? membershipIn(snap, userId) : null;
    if (m === null) throw notFound("You have never been in this room.");
    if (m === "join" || m === "invite" || m === "knock") {
      throw new MatrixError(400, "M_UNKNOWN", "User must leave the room before forgetting it.");
    }
    await ctx.streams.write(repo.db, async (trx, _position, touch) => {
      await repo.state.setForgotten(trx, roomId, userId);
      touch({ userIds: [userId], kinds: ["room"] });
    });
    this.core.users.forgot(userId, roomId);
  }
}
