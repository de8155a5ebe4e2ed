import { z } from "zod";
import { invalidParam } from "../../companion-services/platform/errors.ts";
import type { Router } from "../../companion-services/platform/http/router.ts";
import { parseRoomIdParam, requireSelf } from "../ids.ts";
import type { AccountDataService } from "./account-data.ts";

const tagBody = z.object({ order: z.number().min(0).max(1).optional() }).passthrough();

type Tags = Record<string, Record<string, unknown>>;

/**
 * Room tags (spec §"Room Tagging"): a view over the room's `m.tag` account data, so tag changes
 * reach /sync like any room account data. Changes of one user are applied one at a time because
 * each rewrites the whole tag set.
 */
export function mountTagRoutes(router: Router, accountData: AccountDataService): void {
  const base = "/_matrix/client/v3/user/:userId/rooms/:roomId/tags";
  const queues = new Map<string, Promise<unknown>>();

  const current = async (userId: string, roomId: string): Promise<Tags> => {
    const content = (await accountData.get(userId, roomId, "m.tag")) as { tags?: unknown } | undefined;
    const tags = content?.tags;
    return tags !== null && typeof tags === "object" && !Array.isArray(tags) ? { ...(tags as Tags) } : {};
  };

  const update = async (userId: string, roomId: string, change: (tags: Tags) => void) => {
    const prev = queues.get(userId) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        const tags = await current(userId, roomId);
        change(tags);
        await accountData.set(userId, roomId, "m.tag", { tags });
      });
    queues.set(userId, run);
    try {
      await run;
    } finally {
      if (queues.get(userId) === run) queues.delete(userId);
    }
  };

  const tagParam = (tag: string) => {
    if (tag.length === 0 || Buffer.byteLength(tag) > 255) throw invalidParam("tag must be 1-255 bytes");
    return tag;
  };

  router.get(base, async (req) => {
    const userId = requireSelf(req, "get tags");
    const roomId = parseRoomIdParam(req.params.roomId!);
    return { body: { tags: await current(userId, roomId) } };
  });

  router.put(`${base}/:tag`, async (req) => {
    const userId = requireSelf(req, "add tags");
    const roomId = parseRoomIdParam(req.params.roomId!);
    const tag = tagParam(req.params.tag!);
    const body = req.json(tagBody);
    await update(userId, roomId, (tags) => {
      tags[tag] = body;
    });
    return { body: {} };
  });

  router.delete(`${base}/:tag`, async (req) => {
    const userId = requireSelf(req, "remove tags");
    const roomId = parseRoomIdParam(req.params.roomId!);
    const tag = tagParam(req.params.tag!);
    await update(userId, roomId, (tags) => {
      delete tags[tag];
    });
    return { body: {} };
  });
}
