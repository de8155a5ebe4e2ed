import type { Kysely } from "kysely";
import { z } from "zod";
import type { IdentityClient } from "../../companion-services/identity/client.ts";
import { MatrixError, notFound } from "../../companion-services/platform/errors.ts";
import type { AdminRoutes } from "../../companion-services/platform/http/admin-routes.ts";
import { parseUserId } from "../ids.ts";
import type { RoomsService } from "../rooms/service.ts";
import type { AdminOwnTables } from "./tables.ts";

const noticeBody = z.object({
  user_id: z.string(),
  content: z.record(z.string(), z.unknown()),
  type: z.string().optional(),
  state_key: z.string().optional(),
});

/** Each user's server notices room (server_notice_rooms). */
export class NoticeRoomsRepository {
  constructor(private readonly db: Kysely<AdminOwnTables>) {}

  async roomOf(userId: string): Promise<string | null> {
    const r = await this.db
      .selectFrom("server_notice_rooms")
      .select("room_id")
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return r?.room_id ?? null;
  }

  async set(userId: string, roomId: string): Promise<void> {
    await this.db
      .insertInto("server_notice_rooms")
      .values({ user_id: userId, room_id: roomId, created_at: Date.now() })
      .onConflict((oc) => oc.column("user_id").doUpdateSet({ room_id: roomId, created_at: Date.now() }))
      .execute();
  }
}

/**
 * Synapse's server notices: a message from the notices user (@server:<server name>) into a room
 * of its own with the user, created (and the user invited) on the first notice; a user who left
 * it gets a new one.
 */
export function mountServerNotices(
  r: AdminRoutes,
  deps: {
    rooms: RoomsService;
    identity: IdentityClient;
    repo: NoticeRoomsRepository;
    serverName: string;
    noticesLocalpart: string;
  },
): void {
  const notices = `@${deps.noticesLocalpart}:${deps.serverName}`;
  const ensureNoticesUser = async () => {
    if (await deps.identity.getUser(notices)) return;
    await deps.identity
      .register({ localpart: deps.noticesLocalpart, inhibitLogin: true })
      .catch((err: unknown) => {
        if (!(err instanceof MatrixError && err.errcode === "M_USER_IN_USE")) throw err;
      });
  };
  r.post("/v1/send_server_notice", async (req) => {
    const b = req.json(noticeBody);
    const userId = parseUserId(b.user_id);
    const user = await deps.identity.getUser(userId);
    if (!user || user.deactivated) throw notFound("User not found");
    await ensureNoticesUser();
    let roomId = await deps.repo.roomOf(userId);
    const membership = roomId ? await deps.rooms.membership(roomId, userId) : null;
    if (!roomId || (membership !== "join" && membership !== "invite")) {
      roomId = (
        await deps.rooms.createRoom(notices, {
          preset: "private_chat",
          name: "Server Notices",
          invite: [userId],
          powerLevelContentOverride: { events_default: 100 },
        })
      ).roomId;
      await deps.repo.set(userId, roomId);
    }
    const eventId =
      b.state_key !== undefined
        ? await deps.rooms.sendStateEvent(notices, roomId, b.type ?? "m.room.message", b.state_key, b.content)
        : await deps.rooms.sendEvent(notices, roomId, b.type ?? "m.room.message", b.content);
    return { body: { event_id: eventId } };
  });
}
