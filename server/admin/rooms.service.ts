import { randomUUID } from "node:crypto";
import { forbidden, MatrixError, notFound } from "../../companion-services/platform/errors.ts";
import type { NovaContext } from "../context.ts";
import { eventLevel, userLevel } from "../rooms/power-levels.ts";
import type { RoomsService } from "../rooms/service.ts";
import type { AdminRoomsRepository } from "./rooms.repository.ts";

export type ShutdownOptions = {
  newRoomUserId?: string;
  roomName?: string;
  message?: string;
  block: boolean;
  purge: boolean;
  forcePurge: boolean;
};

export type ShutdownResult = {
  kicked_users: string[];
  failed_to_kick_users: string[];
  local_aliases: string[];
  new_room_id: string | null;
};

type DeleteStatus = {
  delete_id: string;
  room_id: string;
  status: "shutting_down" | "purging" | "complete" | "failed";
  error?: string;
  shutdown_room: ShutdownResult;
};

const EMPTY: ShutdownResult = {
  kicked_users: [],
  failed_to_kick_users: [],
  local_aliases: [],
  new_room_id: null,
};

/** The rooms area of the admin API: shutdown (kick, block, purge) and make_room_admin. */
export class AdminRooms {
  /** v2 deletions of this process, by delete id (Synapse, too, keeps them in memory only). */
  private readonly deletes = new Map<string, DeleteStatus>();

  constructor(
    private readonly ctx: NovaContext,
    private readonly rooms: RoomsService,
    readonly repo: AdminRoomsRepository,
  ) {
    rooms.useJoinGuard(async (_userId, roomId) => {
      if (await repo.blockedBy(roomId)) throw forbidden("This room has been blocked on this server");
    });
  }

  async get(roomId: string) {
    const r = await this.repo.get(roomId);
    if (!r) throw notFound("Room not found");
    return r;
  }

  /**
   * Synapse's shutdown: every local member leaves (a new room, when asked, receives them), the
   * room's aliases go, a block keeps anyone from joining again, and a purge deletes its events.
   */
  async shutdown(
    roomId: string,
    admin: string,
    opts: ShutdownOptions,
    onPurge?: () => void,
  ): Promise<ShutdownResult> {
    if (opts.block) await this.repo.block(roomId, admin, Date.now());
    if (!(await this.rooms.snapshot(roomId))) {
      if (opts.block) return { ...EMPTY };
      throw notFound("Unknown room");
    }
    let newRoomId: string | null = null;
    if (opts.newRoomUserId) {
      const created = await this.rooms.createRoom(opts.newRoomUserId, {
        name: opts.roomName ?? "Content Violation Notification",
        preset: "public_chat",
        powerLevelContentOverride: { users_default: -10 },
      });
      newRoomId = created.roomId;
      await this.rooms.sendEvent(opts.newRoomUserId, newRoomId, "m.room.message", {
        msgtype: "m.text",
        body:
          opts.message ??
          "Sharing illegal content on this server is not permitted and rooms in violation will be blocked.",
      });
    }
    const kicked: string[] = [];
    const failed: string[] = [];
    for (const { userId } of await this.repo.localMembers(roomId)) {
      try {
        await this.rooms.leave(userId, roomId);
        kicked.push(userId);
        if (newRoomId && userId !== opts.newRoomUserId) await this.rooms.join(userId, newRoomId);
      } catch (err) {
        this.ctx.logger.warn({ err, userId, roomId }, "admin room shutdown: removing a member failed");
        failed.push(userId);
      }
    }
    const aliases = await this.repo.unlist(roomId);
    if (opts.purge) {
      if (failed.length > 0 && !opts.forcePurge)
        throw new MatrixError(400, "M_UNKNOWN", "Users are still joined to this room; use force_purge");
      onPurge?.();
      const everyone = await this.repo.everMembers(roomId);
      await this.repo.purge(roomId);
      this.rooms.invalidateRoom(roomId);
      for (const u of everyone) this.rooms.invalidateUser(u);
    } else {
      this.rooms.invalidateRoom(roomId);
    }
    return {
      kicked_users: kicked,
      failed_to_kick_users: failed,
      local_aliases: aliases,
      new_room_id: newRoomId,
    };
  }

  /** DELETE /v2/rooms/{roomId}: the same shutdown in the background; its status by delete id. */
  startShutdown(roomId: string, admin: string, opts: ShutdownOptions): string {
    const status: DeleteStatus = {
      delete_id: randomUUID(),
      room_id: roomId,
      status: "shutting_down",
      shutdown_room: { ...EMPTY },
    };
    this.deletes.set(status.delete_id, status);
    void this.shutdown(roomId, admin, opts, () => {
      status.status = "purging";
    }).then(
      (r) => {
        status.status = "complete";
        status.shutdown_room = r;
      },
      (err: unknown) => {
        status.status = "failed";
        status.error = err instanceof Error ? err.message : String(err);
      },
    );
    return status.delete_id;
  }

  deleteStatus(deleteId: string): DeleteStatus {
    const s = this.deletes.get(deleteId);
    if (!s) throw notFound("delete id not found");
    return s;
  }

  deleteStatusesOf(roomId: string): DeleteStatus[] {
    const list = [...this.deletes.values()].filter((s) => s.room_id === roomId);
    if (list.length === 0) throw notFound("No delete task for room");
    return list;
  }

  /**
   * Synapse's make_room_admin: the local member with the highest power level raises `userId`
   * to its own level, inviting them first when the room is not public.
   */
  async makeRoomAdmin(roomId: string, userId: string): Promise<void> {
    const snap = await this.rooms.snapshot(roomId);
    if (!snap) throw notFound("Room not found");
    const pl = snap.powerLevels();
    const joined = (await this.repo.localMembers(roomId)).filter((m) => m.membership === "join");
    const needed = eventLevel(pl, "m.room.power_levels", true);
    const best = joined
      .map((m) => ({ userId: m.userId, level: userLevel(pl, m.userId) }))
      .sort((a, b) => b.level - a.level)[0];
    if (!best || best.level < needed)
      throw new MatrixError(
        400,
        "M_UNKNOWN",
        "No local admin user in room with power to update power levels.",
      );
    const content = (await this.rooms.getStateEvent(roomId, "m.room.power_levels", "")) ?? {};
    const users = { ...((content.users as Record<string, number> | undefined) ?? {}), [userId]: best.level };
    await this.rooms.sendStateEvent(best.userId, roomId, "m.room.power_levels", "", { ...content, users });
    const membership = await this.rooms.membership(roomId, userId);
    const joinRule = (await this.rooms.getStateEvent(roomId, "m.room.join_rules", ""))?.join_rule;
    if (membership !== "join" && membership !== "invite" && joinRule !== "public")
      await this.rooms.invite(best.userId, roomId, userId);
  }

  async setBlocked(roomId: string, admin: string, block: boolean): Promise<void> {
    if (block) await this.repo.block(roomId, admin, Date.now());
    else await this.repo.unblock(roomId);
  }
}
