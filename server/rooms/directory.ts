import { forbidden, invalidParam, MatrixError, notFound } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { serverNameOf } from "../ids.ts";
import type { RoomsCore } from "./core.ts";
import { membershipIn } from "./events.ts";
import { eventLevel, userLevel } from "./power-levels.ts";
import type { StateReads } from "./read/state.ts";
import { roomSummary } from "./read/summary.ts";
import type { ConversationsRepository } from "./storage/conversations.repository.ts";

/**
 * Room aliases and the public room directory. Alias and visibility changes are stream writes like
 * any other (they may change what /publicRooms and /directory answer), so syncs are woken.
 */
export class RoomDirectory {
  private readonly ctx: NovaContext;
  private readonly repo: ConversationsRepository;

  constructor(
    private readonly core: RoomsCore,
    private readonly state: StateReads,
  ) {
    this.ctx = core.ctx;
    this.repo = core.repo.conversations;
  }

  /** GET /directory/room/{alias}. */
  async resolveAlias(alias: string): Promise<{ room_id: string; servers: string[] }> {
    const row = await this.repo.getAlias(alias);
    if (!row) throw notFound("Room alias not found.");
    return { room_id: row.room_id, servers: [this.ctx.config.serverName] };
  }

  /** GET /rooms/{roomId}/aliases: for current members (or anyone in a world-readable room). */
  async aliases(userId: string, roomId: string): Promise<string[]> {
    const { position } = await this.state.readableAt(userId, roomId);
    if (position !== null) throw forbidden("You are not a member of this room.");
    return this.repo.aliasesOf(roomId);
  }

  /** GET /directory/list/room/{roomId}. */
  async directoryVisibility(roomId: string): Promise<"public" | "private"> {
    const conv = await this.repo.getConversation(roomId);
    if (!conv) throw notFound("Room not found.");
    return conv.is_public ? "public" : "private";
  }

  async setAlias(userId: string, alias: string, roomId: string): Promise<void> {
    if (serverNameOf(alias) !== this.ctx.config.serverName)
      throw invalidParam("Room alias must be on this server.");
    const snap = await this.core.snapshots.get(roomId);
    if (!snap) throw notFound("Room not found.");
    if (membershipIn(snap, userId) !== "join") throw forbidden("You are not joined to this room.");
    await this.ctx.streams.write(this.core.repo.db, async (trx, _position, touch) => {
      if (!(await this.repo.insertAlias(trx, alias, roomId, userId))) {
        throw new MatrixError(409, "M_UNKNOWN", "Room alias already exists.");
      }
      touch({ roomIds: [roomId], kinds: ["room"] });
    });
  }

  /** DELETE /directory/room/{alias}; answers the room it pointed to. */
  async deleteAlias(userId: string, alias: string): Promise<string> {
    const row = await this.repo.getAlias(alias);
    if (!row) throw notFound("Room alias not found.");
    if (row.creator !== userId) {
      const snap = await this.core.snapshots.get(row.room_id);
      const pl = snap?.powerLevels();
      const allowed =
        snap &&
        pl &&
        membershipIn(snap, userId) === "join" &&
        userLevel(pl, userId) >= eventLevel(pl, "m.room.canonical_alias", true);
      if (!allowed) throw forbidden("You may not delete this alias.");
    }
    await this.ctx.streams.write(this.core.repo.db, async (trx, _position, touch) => {
      await this.repo.deleteAlias(trx, alias);
      touch({ roomIds: [row.room_id], kinds: ["room"] });
    });
    return row.room_id;
  }

  async setDirectoryVisibility(
    userId: string,
    roomId: string,
    visibility: "public" | "private",
  ): Promise<void> {
    const snap = await this.core.snapshots.get(roomId);
    if (!snap) throw notFound("Room not found.");
    const pl = snap.powerLevels();
    if (
      membershipIn(snap, userId) !== "join" ||
      userLevel(pl, userId) < eventLevel(pl, "m.room.canonical_alias", true)
    ) {
      throw forbidden("You may not change this room's directory visibility.");
    }
    await this.ctx.streams.write(this.core.repo.db, async (trx, _position, touch) => {
      await this.repo.setPublic(trx, roomId, visibility === "public");
      touch({ roomIds: [roomId], kinds: ["room"] });
    });
  }

  async publicRooms(opts: {
    limit?: number;
    since?: string;
    term?: string;
    server?: string | null;
  }): Promise<Record<string, unknown>> {
    if (opts.server && opts.server !== this.ctx.config.serverName) {
      throw new MatrixError(404, "M_NOT_FOUND", "Federation is not supported: only this server's directory.");
    }
    let offset = 0;
    if (opts.since) {
      const m = /^o(\d{1,9})$/.exec(opts.since);
      if (!m) throw invalidParam("Invalid since token");
      offset = Number(m[1]);
    }
    const ids = await this.repo.publicRoomIds();
    const entries: Record<string, unknown>[] = [];
    for (const id of ids) {
      const snap = await this.core.snapshots.get(id);
      if (!snap) continue;
      const entry = roomSummary(snap);
      if (opts.term) {
        const t = opts.term.toLowerCase();
        const hay = [entry.name, entry.topic, entry.canonical_alias].filter(Boolean).join(" ").toLowerCase();
        if (!hay.includes(t)) continue;
      }
      entries.push(entry);
    }
    entries.sort((a, b) => (b.num_joined_members as number) - (a.num_joined_members as number));
    const limit = opts.limit && opts.limit > 0 ? opts.limit : entries.length;
    const chunk = entries.slice(offset, offset + limit);
    const body: Record<string, unknown> = { chunk, total_room_count_estimate: entries.length };
    if (offset + limit < entries.length) body.next_batch = `o${offset + limit}`;
    if (offset > 0) body.prev_batch = `o${Math.max(0, offset - limit)}`;
    return body;
  }
}

type CanonicalAliasWriter = {
  getStateEvent(roomId: string, type: string, stateKey: string): Promise<Record<string, unknown> | null>;
  sendStateEvent(
    sender: string,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string>;
};

/**
 * A deleted alias leaves the room's m.room.canonical_alias (alias and alt_aliases), sent by the
 * user who deleted it, as Synapse does; a user without the power to send it leaves it as it was.
 */
export async function dropFromCanonicalAlias(
  rooms: CanonicalAliasWriter,
  userId: string,
  roomId: string,
  alias: string,
): Promise<void> {
  const current = await rooms.getStateEvent(roomId, "m.room.canonical_alias", "");
  if (!current) return;
  const alt = Array.isArray(current.alt_aliases) ? current.alt_aliases : [];
  if (current.alias !== alias && !alt.includes(alias)) return;
  const next: Record<string, unknown> = { ...current };
  if (next.alias === alias) delete next.alias;
  if (Array.isArray(next.alt_aliases)) next.alt_aliases = alt.filter((a) => a !== alias);
  try {
    await rooms.sendStateEvent(userId, roomId, "m.room.canonical_alias", "", next);
  } catch (err) {
    if (!(err instanceof MatrixError && err.status === 403)) throw err;
  }
}
