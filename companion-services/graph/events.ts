import { z } from "zod";

/**
 * Graph's events, from its outbox on topic `nova.follow.events`, keyed by the follower so one
 * user's follows and unfollows keep their order. Feed fans out on them; notifications tells the
 * followee; graph's own consumer keeps `social_metadata` counts.
 */
export const GRAPH_AGGREGATE = "follow";

const userId = z.string().startsWith("@");

export const followCreated = z.object({
  follower_id: userId,
  followee_id: userId,
  created_at: z.number().int(),
});
export const followDeleted = z.object({
  follower_id: userId,
  followee_id: userId,
  deleted_at: z.number().int(),
});

export const GRAPH_EVENTS = {
  "follow.created": followCreated,
  "follow.deleted": followDeleted,
} as const;

export type GraphEventType = keyof typeof GRAPH_EVENTS;
export type GraphEventPayload<T extends GraphEventType> = z.infer<(typeof GRAPH_EVENTS)[T]>;

export function graphEvent<T extends GraphEventType>(eventType: T, payload: GraphEventPayload<T>) {
  return { aggregateType: GRAPH_AGGREGATE, aggregateId: payload.follower_id, eventType, payload };
}
