import { z } from "zod";

/**
 * The request body of simplified sliding sync on its unstable wire (MSC4186 as Synapse and ruma
 * speak it: `ranges`, tuple `required_state`, `is_invite`). Unknown fields are ignored, as Synapse
 * ignores them; wrong types are 400.
 */
const stateKeyPair = z.tuple([z.string().max(1000), z.string().max(1000)]).rest(z.unknown());
const requiredState = z.array(stateKeyPair).max(1000);
const timelineLimit = z.number().int().min(0).max(1000);

const roomConfig = {
  required_state: requiredState.optional(),
  timeline_limit: timelineLimit.optional(),
};

const filters = z
  .object({
    is_dm: z.boolean().nullish(),
    is_encrypted: z.boolean().nullish(),
    is_invite: z.boolean().nullish(),
    spaces: z.array(z.string()).max(1000).nullish(),
    room_types: z.array(z.string().nullable()).max(100).nullish(),
    not_room_types: z.array(z.string().nullable()).max(100).nullish(),
    tags: z.array(z.string()).max(100).nullish(),
    not_tags: z.array(z.string()).max(100).nullish(),
  })
  .passthrough();

const range = z.tuple([z.number().int().min(0), z.number().int().min(0)]);

export const listSchema = z
  .object({
    ranges: z.array(range).max(100).optional(),
    filters: filters.nullish(),
    ...roomConfig,
  })
  .passthrough();

export const roomSubscriptionSchema = z.object(roomConfig).passthrough();

const enabled = { enabled: z.boolean().nullish() };
const roomScoped = z
  .object({
    ...enabled,
    lists: z.array(z.string()).max(100).nullish(),
    rooms: z.array(z.string()).max(1000).nullish(),
  })
  .passthrough();

export const extensionsSchema = z
  .object({
    to_device: z
      .object({
        ...enabled,
        limit: z.number().int().min(1).nullish(),
        since: z.string().max(100).nullish(),
      })
      .passthrough()
      .nullish(),
    e2ee: z.object(enabled).passthrough().nullish(),
    account_data: roomScoped.nullish(),
    receipts: roomScoped.nullish(),
    typing: roomScoped.nullish(),
  })
  .passthrough();

export const slidingSyncBody = z
  .object({
    conn_id: z.string().max(100).nullish(),
    txn_id: z.string().max(1000).nullish(),
    lists: z
      .record(z.string().max(64), listSchema)
      .refine((l) => Object.keys(l).length <= 100, "at most 100 lists")
      .nullish(),
    room_subscriptions: z
      .record(z.string().max(255), roomSubscriptionSchema)
      .refine((s) => Object.keys(s).length <= 1000, "at most 1000 room subscriptions")
      .nullish(),
    extensions: extensionsSchema.nullish(),
    // MSC3575's removal of sticky room subscriptions (matrix-js-sdk sends it).
    unsubscribe_rooms: z.array(z.string().max(255)).max(1000).nullish(),
    // The merged MSC moved these into the body; the query string wins when both are given.
    pos: z.string().max(200).nullish(),
    timeout: z.number().int().min(0).nullish(),
    set_presence: z.string().nullish(),
  })
  .passthrough();

export type SlidingSyncBody = z.infer<typeof slidingSyncBody>;
export type SlidingList = z.infer<typeof listSchema>;
export type SlidingFilters = z.infer<typeof filters>;
export type RoomSubscription = z.infer<typeof roomSubscriptionSchema>;
export type ExtensionsRequest = z.infer<typeof extensionsSchema>;
export type RequiredStatePair = z.infer<typeof stateKeyPair>;
