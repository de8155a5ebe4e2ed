import type { Kysely, Transaction } from "kysely";
import { ACCOUNT_AGGREGATE, ignoredUsersChanged } from "../../server/events.ts";
import { userDeactivated, userRegistered } from "../identity/events.ts";
import { EventConsumer, type EventHandler, on } from "../platform/consumer.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import { appendEvents } from "../platform/outbox/writer.ts";
import { BlocksRepository } from "./blocks.repository.ts";
import {
  followCreated,
  followDeleted,
  GRAPH_AGGREGATE,
  type GraphEventPayload,
  graphEvent,
} from "./events.ts";
import { FollowsRepository } from "./follows.repository.ts";
import { SocialMetadataRepository } from "./social-metadata.repository.ts";
import type { GraphTables } from "./tables.ts";

type Trx = Transaction<GraphTables>;
type FollowCreated = GraphEventPayload<"follow.created">;
type FollowDeleted = GraphEventPayload<"follow.deleted">;

/** Every graph consumer keeps its effects in graph's database. */
function required(trx: Trx | null): Trx {
  if (!trx) throw new Error("the graph consumers need the service's database");
  return trx;
}

export type GraphConsumerDeps = { db: Kysely<GraphTables>; schema: string; bus: EventBus; logger: Logger };

/** Follows removed outside a request (a block, a deactivation) are announced like an unfollow. */
async function announceRemoved(
  trx: Trx,
  schema: string,
  removed: { follower_id: string; followee_id: string }[],
  at: number,
): Promise<void> {
  await appendEvents(
    trx,
    schema,
    removed.map((f) =>
      graphEvent("follow.deleted", {
        follower_id: f.follower_id,
        followee_id: f.followee_id,
        deleted_at: at,
      }),
    ),
  );
}

/**
 * Identity's events: every registered user gets a social_metadata row (graph's "this user
 * exists"); a deactivated one loses it and every follow of or by them.
 */
export function graphIdentityConsumer(
  db: Kysely<GraphTables>,
  bus: EventBus,
  logger: Logger,
  schema = "graph",
) {
  const d: GraphConsumerDeps = { db, schema, bus, logger };
  const meta = new SocialMetadataRepository(d.db);
  const follows = new FollowsRepository(d.db);
  const blocks = new BlocksRepository(d.db);
  return new EventConsumer<GraphTables>({
    service: "graph",
    name: "identity-events",
    bus: d.bus,
    db: d.db,
    logger: d.logger,
    topics: [topicFor("user")],
    handlers: {
      "user.registered": on(userRegistered, async (trx, p) => {
        await meta.createFor(required(trx), p.user_id, p.created_at);
      }),
      "user.deactivated": on(userDeactivated, async (t, p) => {
        const trx = required(t);
        await meta.delete(trx, p.user_id);
        await blocks.deleteOf(trx, p.user_id);
        await announceRemoved(trx, d.schema, await follows.deleteAllOf(trx, p.user_id), p.deactivated_at);
      }),
    },
  });
}

/**
 * Graph's own follow events keep `social_metadata` counts. The consumer records each event id in
 * the transaction that moves the counts, so a redelivered or replayed event moves nothing; the
 * events are written only for follows that really started or ended, so the counts follow the
 * table.
 */
export function graphCountsConsumer(d: GraphConsumerDeps) {
  const meta = new SocialMetadataRepository(d.db);
  /** A run of follow events of one sign as per-user deltas, applied in one statement. */
  const apply =
    (sign: 1 | -1) => async (t: Trx | null, items: { follower_id: string; followee_id: string }[]) => {
      const deltas = new Map<string, { followers: number; following: number }>();
      const of = (u: string) => {
        let e = deltas.get(u);
        if (!e) {
          e = { followers: 0, following: 0 };
          deltas.set(u, e);
        }
        return e;
      };
      for (const p of items) {
        of(p.followee_id).followers += sign;
        of(p.follower_id).following += sign;
      }
      await meta.adjustMany(required(t), deltas);
    };
  const created = apply(1);
  const deleted = apply(-1);
  return new EventConsumer<GraphTables>({
    service: "graph",
    name: "follow-counts",
    bus: d.bus,
    db: d.db,
    logger: d.logger,
    topics: [topicFor(GRAPH_AGGREGATE)],
    handlers: {
      "follow.created": {
        schema: followCreated,
        apply: (t, p) => created(t, [p]),
        applyBatch: (t, items) =>
          created(
            t,
            items.map((i) => i.payload),
          ),
      } satisfies EventHandler<GraphTables, FollowCreated>,
      "follow.deleted": {
        schema: followDeleted,
        apply: (t, p) => deleted(t, [p]),
        applyBatch: (t, items) =>
          deleted(
            t,
            items.map((i) => i.payload),
          ),
      } satisfies EventHandler<GraphTables, FollowDeleted>,
    },
  });
}

/**
 * Messaging's account events: an ignored-user list replaces graph's copy, and follows between the
 * user and anyone newly ignored end (announced, so counts and feeds follow).
 */
export function graphAccountConsumer(d: GraphConsumerDeps) {
  const follows = new FollowsRepository(d.db);
  const blocks = new BlocksRepository(d.db);
  return new EventConsumer<GraphTables>({
    service: "graph",
    name: "account-events",
    bus: d.bus,
    db: d.db,
    logger: d.logger,
    topics: [topicFor(ACCOUNT_AGGREGATE)],
    handlers: {
      "account.ignored_users_changed": on(ignoredUsersChanged, async (t, p) => {
        const trx = required(t);
        const added = await blocks.replace(trx, p.user_id, p.ignored_user_ids, p.changed_at);
        const removed: { follower_id: string; followee_id: string }[] = [];
        for (const other of added) {
          // The same lock a follow between the two takes: no follow slips in around the removal.
          await follows.lockPair(trx, p.user_id, other);
          removed.push(...(await follows.deleteBetween(trx, p.user_id, other)));
        }
        await announceRemoved(trx, d.schema, removed, p.changed_at);
      }),
    },
  });
}

/** Graph's consumers on its own database (started by the caller). */
export function createGraphConsumersOn(d: GraphConsumerDeps): EventConsumer<GraphTables>[] {
  return [
    graphIdentityConsumer(d.db, d.bus, d.logger, d.schema),
    graphCountsConsumer(d),
    graphAccountConsumer(d),
  ];
}
