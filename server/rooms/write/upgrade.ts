import { forbidden, MatrixError, notFound } from "../../../companion-services/platform/errors.ts";
import { serverNameOf } from "../../ids.ts";
import type { RoomsCore } from "../core.ts";
import type { Draft } from "../draft.ts";
import { membershipIn } from "../events.ts";
import { memberProfile } from "../membership/profiles.ts";
import { eventLevel, parsePowerLevels, userLevel } from "../power-levels.ts";
import { newRoomId } from "../room-ids.ts";
import { RoomSnapshot } from "../room-snapshot.ts";
import { isSupportedRoomVersion, type RoomVersion, rulesFor } from "../room-versions.ts";
import { buildEvents } from "./build.ts";
import type { Plan, RoomWriter } from "./persist.ts";

/**
 * State carried over to the replacement room, in Synapse's order (clone_existing_room); the
 * power levels and the canonical alias are handled on their own.
 */
const COPIED_STATE = [
  "m.room.join_rules",
  "m.room.name",
  "m.room.topic",
  "m.room.history_visibility",
  "m.room.guest_access",
  "m.room.avatar",
  "m.room.encryption",
  "m.room.server_acl",
  "m.room.related_groups",
];

/** Keys of m.room.create that the replacement keeps (Synapse: federation and the room type). */
const COPIED_CREATE_KEYS = ["m.federate", "type"];

const LEVEL_KEYS = ["users_default", "events_default", "state_default", "ban", "kick", "redact", "invite"];

/**
 * POST /rooms/{roomId}/upgrade (spec "Room Upgrades"): tombstones the old room, creates its
 * replacement with the important state, power levels and bans, moves the local aliases and the
 * directory listing, and restricts who may still speak in the old room.
 */
export class RoomUpgrader {
  /** Upgrades running, by old room: a retried request shares the first one's replacement. */
  private readonly running = new Map<string, { userId: string; result: Promise<string> }>();

  constructor(
    private readonly core: RoomsCore,
    private readonly writer: RoomWriter,
  ) {}

  /**
   * One upgrade of a room at a time (Synapse's upgrade response cache): the same user's concurrent
   * request gets the same replacement, another user's is refused with 400.
   */
  upgrade(userId: string, oldRoomId: string, newVersion: string): Promise<string> {
    const current = this.running.get(oldRoomId);
    if (current) {
      if (current.userId === userId) return current.result;
      return Promise.reject(
        new MatrixError(400, "M_UNKNOWN", "An upgrade for this room is currently in progress"),
      );
    }
    const result = this.run(userId, oldRoomId, newVersion).finally(() => this.running.delete(oldRoomId));
    this.running.set(oldRoomId, { userId, result });
    return result;
  }

  private async run(userId: string, oldRoomId: string, newVersion: string): Promise<string> {
    const { ctx, repo, serverName } = this.core;
    const before = await this.core.snapshots.get(oldRoomId);
    if (!before) throw notFound("Unknown room.");
    if (!isSupportedRoomVersion(newVersion)) {
      throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${newVersion} is not supported`);
    }
    checkMayUpgrade(before, userId);
    const [conv, profile] = await Promise.all([
      repo.conversations.getConversation(oldRoomId),
      memberProfile(ctx, userId),
    ]);
    const replacement = newRoomId(serverName);
    // The replacement's events are built once before anything is written: a copy its room version
    // refuses must fail the upgrade, not leave the old room tombstoned towards no room.
    buildEvents(
      replacement,
      new RoomSnapshot(replacement, newVersion, new Map(), null, 0, 0),
      replacementDrafts(before, userId, newVersion, `$${"A".repeat(43)}`, profile),
      serverName,
      await this.core.signingKey(),
      Date.now(),
    );

    // The tombstone goes first: the replacement's create event names it as its predecessor.
    const tombstone = await this.writer.persist(oldRoomId, (snap) => {
      checkMayUpgrade(snap, userId);
      const content = { body: "This room has been replaced", replacement_room: replacement };
      return { drafts: [{ type: "m.room.tombstone", stateKey: "", content, sender: userId }] };
    });
    const old = (await this.core.snapshots.get(oldRoomId))!;
    const isPublic = conv?.is_public ?? false;
    await this.writer.persist(
      replacement,
      () => ({
        drafts: replacementDrafts(old, userId, newVersion, tombstone.eventIds[0]!, profile),
        // The local aliases and the directory listing move with the room, in the same transaction.
        extra: async (trx) => {
          await repo.conversations.moveAliases(trx, oldRoomId, replacement);
          if (isPublic) await repo.conversations.setPublic(trx, oldRoomId, false);
        },
      }),
      { newRoom: { version: newVersion, creator: userId, isPublic } },
    );

    // The old room: regular members may no longer speak or invite, and its canonical alias goes.
    // Either may be beyond the upgrader's power (Synapse logs and goes on): the upgrade stands.
    await this.bestEffort(oldRoomId, (snap) => restrictedPowerLevels(snap, userId));
    await this.bestEffort(oldRoomId, (snap) =>
      snap.get("m.room.canonical_alias", "")
        ? [{ type: "m.room.canonical_alias", stateKey: "", content: {}, sender: userId }]
        : [],
    );

    const localMembers = old.members("join").filter((u) => serverNameOf(u) === serverName);
    await ctx.hooks
      .emit("roomUpgraded", { oldRoomId, newRoomId: replacement, userIds: localMembers })
      .catch((err: unknown) => ctx.logger.error({ err, oldRoomId }, "roomUpgraded listener failed"));
    return replacement;
  }

  private async bestEffort(roomId: string, drafts: (snap: RoomSnapshot) => Draft[]): Promise<void> {
    try {
      await this.writer.persist(roomId, (snap): Plan => ({ drafts: drafts(snap) }));
    } catch (err) {
      if (!(err instanceof MatrixError && err.status === 403)) throw err;
      this.core.ctx.logger.info({ roomId, err: err.message }, "room upgrade: old room left unchanged");
    }
  }
}

/** The upgrader must be joined and able to send the tombstone (spec: 403 otherwise). */
function checkMayUpgrade(snap: RoomSnapshot, userId: string): void {
  if (membershipIn(snap, userId) !== "join") throw forbidden("You are not in this room.");
  const pl = snap.powerLevels();
  if (userLevel(pl, userId) < eventLevel(pl, "m.room.tombstone", true)) {
    throw forbidden("You do not have the power to upgrade this room.");
  }
}

/**
 * Power levels with every level an integer (older room versions allowed numeric strings, newer
 * ones refuse anything else): what the replacement room may hold.
 */
function integerLevels(content: Record<string, unknown>): Record<string, unknown> {
  const asInt = (v: unknown): number | undefined => {
    if (typeof v === "number" && Number.isInteger(v)) return v;
    if (typeof v === "string" && /^[+-]?\d+$/.test(v.trim())) return Number.parseInt(v, 10);
    return undefined;
  };
  const out: Record<string, unknown> = { ...content };
  for (const k of LEVEL_KEYS) {
    if (!(k in out)) continue;
    const n = asInt(out[k]);
    if (n === undefined) delete out[k];
    else out[k] = n;
  }
  for (const k of ["events", "users", "notifications"]) {
    const m = out[k];
    if (m === undefined) continue;
    const fixed: Record<string, number> = {};
    if (m && typeof m === "object" && !Array.isArray(m)) {
      for (const [key, v] of Object.entries(m)) {
        const n = asInt(v);
        if (n !== undefined) fixed[key] = n;
      }
    }
    out[k] = fixed;
  }
  return out;
}

/**
 * The replacement room's events: create (with `predecessor`), the upgrader's join, the old power
 * levels with the upgrader raised to what copying needs, the copied state and bans, then the old
 * power levels as they were (Synapse's clone_existing_room and _update_upgraded_room_pls).
 */
function replacementDrafts(
  old: RoomSnapshot,
  userId: string,
  version: RoomVersion,
  tombstoneId: string,
  profile: Record<string, string>,
): Draft[] {
  const oldCreate = old.get("m.room.create", "")?.pdu.content ?? {};
  const create: Record<string, unknown> = {
    room_version: version,
    predecessor: { room_id: old.roomId, event_id: tombstoneId },
  };
  for (const k of COPIED_CREATE_KEYS) if (oldCreate[k] !== undefined) create[k] = oldCreate[k];
  if (rulesFor(version).createHasCreator) create.creator = userId;
  const state = (type: string, stateKey: string, content: Record<string, unknown>): Draft => ({
    type,
    stateKey,
    content,
    sender: userId,
  });
  const drafts: Draft[] = [
    state("m.room.create", "", create),
    state("m.room.member", userId, { membership: "join", ...profile }),
  ];

  const oldPl = old.get("m.room.power_levels", "")?.pdu.content;
  const original = oldPl ? integerLevels(oldPl) : null;
  let level = 100;
  if (original) {
    const pl = parsePowerLevels(original);
    const needed = Math.max(pl.state_default, pl.ban, ...Object.values(pl.events));
    level = Math.max(userLevel(pl, userId), needed);
    const users = { ...(original.users as Record<string, number> | undefined), [userId]: level };
    drafts.push(state("m.room.power_levels", "", { ...original, users }));
  } else {
    drafts.push(state("m.room.power_levels", "", { users: { [userId]: 100 } }));
  }

  for (const type of COPIED_STATE) {
    const e = old.get(type, "");
    if (e) drafts.push(state(type, "", e.pdu.content));
  }
  // A space keeps its children.
  if (oldCreate.type === "m.space") {
    for (const e of old.state.values()) {
      if (e.pdu.type === "m.space.child" && e.pdu.state_key !== undefined) {
        drafts.push(state("m.space.child", e.pdu.state_key, e.pdu.content));
      }
    }
  }
  // The aliases move to the new room, so does the canonical alias naming them.
  const canonical = old.get("m.room.canonical_alias", "")?.pdu.content;
  if (canonical && (canonical.alias !== undefined || canonical.alt_aliases !== undefined)) {
    drafts.push(state("m.room.canonical_alias", "", canonical));
  }
  // Bans carry over, but for those the upgrader could not ban (at or above its level).
  const levels = parsePowerLevels(original ?? {});
  for (const target of old.members("ban")) {
    if (target === userId || userLevel(levels, target) >= level) continue;
    const reason = old.get("m.room.member", target)?.pdu.content.reason;
    const content: Record<string, unknown> = { membership: "ban" };
    if (typeof reason === "string") content.reason = reason;
    drafts.push(state("m.room.member", target, content));
  }
  if (original) drafts.push(state("m.room.power_levels", "", original));
  return drafts;
}

/**
 * The old room's power levels once it is replaced: sending events and inviting need moderator
 * level, or more than a default user's (Synapse's _update_upgraded_room_pls); nothing when they
 * already do.
 */
function restrictedPowerLevels(snap: RoomSnapshot, userId: string): Draft[] {
  const current = snap.get("m.room.power_levels", "")?.pdu.content;
  if (!current) return [];
  const content = integerLevels(current);
  const pl = parsePowerLevels(content);
  const restricted = Math.max(50, pl.users_default + 1);
  let changed = false;
  for (const k of ["events_default", "invite"] as const) {
    if (pl[k] < restricted) {
      content[k] = restricted;
      changed = true;
    }
  }
  return changed ? [{ type: "m.room.power_levels", stateKey: "", content, sender: userId }] : [];
}
