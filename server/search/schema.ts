import { z } from "zod";
import { ROOM_EVENT_KEYS } from "../../companion-services/search/client.ts";

const ids = z.array(z.string().max(255)).max(1_000);

/** The body of POST /search (spec "Server Side Search"): only the room_events category exists. */
export const searchBody = z.object({
  search_categories: z.object({
    room_events: z
      .object({
        search_term: z.string(),
        keys: z.array(z.enum(ROOM_EVENT_KEYS)).optional(),
        filter: z
          .object({
            limit: z.number().int().min(0).optional(),
            rooms: ids.optional(),
            not_rooms: ids.optional(),
            senders: ids.optional(),
            not_senders: ids.optional(),
            types: ids.optional(),
            not_types: ids.optional(),
          })
          .passthrough()
          .optional(),
        order_by: z.enum(["recent", "rank"]).optional(),
        event_context: z
          .object({
            before_limit: z.number().int().min(0).optional(),
            after_limit: z.number().int().min(0).optional(),
            include_profile: z.boolean().optional(),
          })
          .optional(),
        include_state: z.boolean().optional(),
        groupings: z
          .object({ group_by: z.array(z.object({ key: z.enum(["room_id", "sender"]) })).optional() })
          .optional(),
      })
      .optional(),
  }),
});
export type SearchBody = z.infer<typeof searchBody>;
export type RoomEventsCriteria = NonNullable<SearchBody["search_categories"]["room_events"]>;
