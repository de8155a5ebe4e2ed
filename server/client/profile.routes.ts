import { z } from "zod";
import type { User } from "../../companion-services/identity/client.ts";
import { notFound } from "../../companion-services/platform/errors.ts";
import type { Request } from "../../companion-services/platform/http/router.ts";
import type { NovaContext } from "../context.ts";
import { parseUserIdParam, requireSelf } from "../ids.ts";
import type { ClientRooms } from "./rooms-port.ts";

const displaynameBody = z.object({ displayname: z.string().max(256).nullable() });
const avatarBody = z.object({ avatar_url: z.string().max(1000).nullable() });
const searchBody = z.object({
  search_term: z.string().max(1000),
  limit: z.number().int().min(0).max(1000).optional(),
});

async function profileOf(ctx: NovaContext, req: Request): Promise<User> {
  const userId = parseUserIdParam(req.params.userId!);
  const user = await ctx.identity.getUser(userId);
  if (!user || user.deactivated) throw notFound("Profile was not found");
  return user;
}

function profileJson(u: User): Record<string, string> {
  return {
    ...(u.displayname !== null ? { displayname: u.displayname } : {}),
    ...(u.avatarUrl !== null ? { avatar_url: u.avatarUrl } : {}),
  };
}

/**
 * Profiles (spec §"Profiles"). A change is written to identity, then sent as a new m.room.member
 * event in each joined room so room members see it.
 */
export function mountProfileRoutes(
  ctx: NovaContext,
  rooms: ClientRooms,
  openRoomIds: (() => Promise<string[]>) | null,
): void {
  const { router, identity, logger } = ctx;
  const base = "/_matrix/client/v3/profile/:userId";

  const propagate = async (user: User) => {
    for (const roomId of await rooms.joinedRoomIds(user.userId)) {
      try {
        // Keep the rest of the member event (e.g. is_direct, reason); replace only the profile.
        const current = (await rooms.getStateEvent(roomId, "m.room.member", user.userId)) ?? {};
        const { displayname: _d, avatar_url: _a, ...rest } = current;
        await rooms.sendStateEvent(user.userId, roomId, "m.room.member", user.userId, {
          ...rest,
          membership: "join",
          ...profileJson(user),
        });
      } catch (err) {
        // One room refusing (e.g. power levels) must not fail the profile change itself.
        logger.warn({ err, roomId, userId: user.userId }, "profile propagation failed");
      }
    }
  };

  router.get(base, async (req) => ({ body: profileJson(await profileOf(ctx, req)) }), { auth: "optional" });

  router.get(
    `${base}/displayname`,
    async (req) => {
      const u = await profileOf(ctx, req);
      if (u.displayname === null) throw notFound("User has no display name");
      return { body: { displayname: u.displayname } };
    },
    { auth: "optional" },
  );

  router.get(
    `${base}/avatar_url`,
    async (req) => {
      const u = await profileOf(ctx, req);
      if (u.avatarUrl === null) throw notFound("User has no avatar");
      return { body: { avatar_url: u.avatarUrl } };
    },
    { auth: "optional" },
  );

  router.put(`${base}/displayname`, async (req) => {
    const userId = requireSelf(req, "set the display name");
    const body = req.json(displaynameBody);
    const user = await identity.setProfile(userId, { displayname: body.displayname || null });
    await propagate(user);
    return { body: {} };
  });

  router.put(`${base}/avatar_url`, async (req) => {
    const userId = requireSelf(req, "set the avatar");
    const body = req.json(avatarBody);
    const user = await identity.setProfile(userId, { avatarUrl: body.avatar_url || null });
    await propagate(user);
    return { body: {} };
  });

  router.post("/_matrix/client/v3/user_directory/search", async (req) => {
    const body = req.json(searchBody);
    const limit = body.limit ?? 10;
    const term = body.search_term.trim().toLowerCase();
    // Searchable (Synapse's default scope): the caller, everyone sharing a room with them, and the
    // joined members of rooms anyone may join or read (join rule public, or world_readable history),
    // so leaving such a room or closing it takes its members out of others' results.
    const candidates = new Set([req.auth!.userId, ...(await rooms.usersSharingRoomsWith(req.auth!.userId))]);
    for (const roomId of openRoomIds ? await openRoomIds() : []) {
      for (const u of await rooms.joinedMembers(roomId)) candidates.add(u);
    }
    const users = await identity.getUsers([...candidates]);
    const hits = users
      .filter((u) => !u.deactivated)
      .filter(
        (u) =>
          term === "" ||
          u.userId.toLowerCase().includes(term) ||
          (u.displayname ?? "").toLowerCase().includes(term),
      )
      .sort((a, b) => a.userId.localeCompare(b.userId));
    return {
      body: {
        limited: hits.length > limit,
        results: hits.slice(0, limit).map((u) => ({
          user_id: u.userId,
          ...(u.displayname !== null ? { display_name: u.displayname } : {}),
          ...(u.avatarUrl !== null ? { avatar_url: u.avatarUrl } : {}),
        })),
      },
    };
  });
}
