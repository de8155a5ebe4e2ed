import { isDeepStrictEqual } from "node:util";
import { forbidden, MatrixError, notFound } from "../../../companion-services/platform/errors.ts";
import { parseRoomId } from "../../ids.ts";
import type { RoomsCore } from "../core.ts";
import { membershipIn } from "../events.ts";
import type { RoomSnapshot } from "../room-snapshot.ts";
import type { RoomWriter } from "../write/persist.ts";
import { guestsCanJoin } from "./guests.ts";
import { checkLocalUser, memberProfile, profileOf } from "./profiles.ts";
import { checkAllowedByMembership, localAuthoriser, RESTRICTED_JOIN_RULES } from "./restricted.ts";

/** The membership verbs of the client API: join, knock, leave, invite, kick, ban, unban, forget. */
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
      async (snap) => {
        // Spec "Guest Access": a guest joins only rooms whose guest_access is can_join.
        if (user?.isGuest && !guestsCanJoin(snap))
          throw forbidden("Guest access is not allowed in this room.");
        const current = snap.get("m.room.member", userId);
        const content: Record<string, unknown> = { ...profile, ...extra, membership: "join" };
        if (reason !== undefined) content.reason = reason;
        // Only the resident server vouches for a restricted join: a client's own claim is dropped.
        delete content.join_authorised_via_users_server;
        const via = await this.restrictedJoinAuthoriser(snap, userId);
        if (via) content.join_authorised_via_users_server = via;
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

  /**
   * A restricted join by someone neither joined nor invited: allowed when they are joined to a
   * room of the `allow` list, authorised by a local member who can invite; null when not restricted.
   */
  private async restrictedJoinAuthoriser(snap: RoomSnapshot, userId: string): Promise<string | null> {
    const joinRules = snap.get("m.room.join_rules", "")?.pdu.content;
    if (typeof joinRules?.join_rule !== "string" || !RESTRICTED_JOIN_RULES.has(joinRules.join_rule))
      return null;
    const current = membershipIn(snap, userId);
    // Members and invitees need no authoriser; a ban is refused by the auth rules.
    if (current === "join" || current === "invite" || current === "ban") return null;
    await checkAllowedByMembership(userId, joinRules, (id) => this.core.snapshots.get(id));
    return localAuthoriser(snap, this.core.serverName);
  }

  /**
   * POST /knock (spec "Knocking on rooms", v7+): asks to join a room whose join rule is knock or
   * knock_restricted; the room's members then invite (accept) or kick (reject) the knocker.
   */
  async knock(userId: string, roomIdOrAlias: string, reason?: string): Promise<string> {
    const roomId = await this.resolveRoom(roomIdOrAlias);
    const user = await this.core.ctx.identity.getUser(userId);
    // Spec "Guest Access": knocking is not among the endpoints a guest may use.
    if (user?.isGuest) throw forbidden("Guests cannot knock on rooms.");
    const profile = profileOf(user);
    await this.writer.persist(
      roomId,
      (snap) => {
        const current = membershipIn(snap, userId);
        if (current === "join") throw forbidden("You are already in the room.");
        if (current === "invite") throw forbidden("You are already invited to this room.");
        if (current === "ban") throw forbidden("You are banned from the room.");
        const content: Record<string, unknown> = { ...profile, membership: "knock" };
        if (reason !== undefined) content.reason = reason;
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
