import type { Kysely, Transaction } from "kysely";
import { type RoomEventStored, roomEventStored } from "../../server/events.ts";
import {
  commentCreated,
  commentDeleted,
  postDeleted,
  postPublished,
  postUpdated,
} from "../content/events.ts";
import { profileUpdated, userDeactivated, userRegistered } from "../identity/events.ts";
import { EventConsumer, type EventHandler, on } from "../platform/consumer.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import { type IndexedRoomEvent, readModel } from "./read-model.repository.ts";
import type { SearchTables } from "./tables.ts";

type Trx = Transaction<SearchTables>;

function required(trx: Trx | null): Trx {
  if (!trx) throw new Error("the search consumers need the service's database");
  return trx;
}

/** The room state search keeps per room, by event type (state_key ""), and the field it names. */
const ROOM_STATE = {
  "m.room.join_rules": ["join_rule", "join_rule"],
  "m.room.name": ["name", "name"],
  "m.room.topic": ["topic", "topic"],
  "m.room.canonical_alias": ["canonical_alias", "alias"],
} as const;

/** The one key of an event that is indexed, by type (the spec's `keys` of /search). */
function searchableKey(e: RoomEventStored): { key: string; value: string } | null {
  const c = e.content;
  if (e.type === "m.room.message" && typeof c.body === "string")
    return { key: "content.body", value: c.body };
  if (e.state_key !== "") return null;
  if (e.type === "m.room.name" && typeof c.name === "string") return { key: "content.name", value: c.name };
  if (e.type === "m.room.topic" && typeof c.topic === "string")
    return { key: "content.topic", value: c.topic };
  return null;
}

/** What of the event would be indexed (whether its room is encrypted aside), or null. */
function indexedRow(e: RoomEventStored): IndexedRoomEvent | null {
  if (e.type === "m.room.encrypted") return null;
  const searchable = searchableKey(e);
  if (!searchable || searchable.value.trim() === "") return null;
  return {
    event_id: e.event_id,
    room_id: e.room_id,
    sender: e.sender,
    type: e.type,
    key: searchable.key,
    value: searchable.value,
    origin_server_ts: e.origin_server_ts,
    stream_position: e.stream_position,
  };
}

/**
 * Room events into the read model, with the effect of applying them one by one in order.
 * m.room.encrypted events are ciphertext and never indexed; a room with m.room.encryption is
 * encrypted for good (the spec gives no way back): its indexed events are dropped and none is
 * indexed again, so plaintext a client sends to it anyway stays out too. The topic is keyed by
 * room, so a room's events arrive here in order.
 *
 * A batch costs one query for its rooms' encryption and one insert for all it indexes: the
 * inserts wait for the end of the batch, and what a later event of the batch would undo
 * (dropped with its room's encryption, or redacted) is taken out of them instead — the same end
 * state as inserting then deleting. Room state does not touch the indexed events, so it goes
 * straight through.
 */
export async function applyRoomEvents(trx: Trx, events: readonly RoomEventStored[]): Promise<void> {
  const rows = events.map(indexedRow);
  const candidates = rows.flatMap((r) => (r ? [r.room_id] : []));
  const encrypted = candidates.length ? await readModel.encryptedRooms(trx, candidates) : new Set<string>();
  let pending: IndexedRoomEvent[] = [];
  for (const [i, e] of events.entries()) {
    if (e.type === "m.room.encrypted") continue;
    if (e.type === "m.room.encryption" && e.state_key === "") {
      pending = pending.filter((r) => r.room_id !== e.room_id);
      encrypted.add(e.room_id);
      await readModel.markEncrypted(trx, e.room_id, e.origin_server_ts);
      continue;
    }
    if (e.type === "m.room.redaction") {
      const redacts = e.content.redacts;
      if (typeof redacts === "string") {
        pending = pending.filter((r) => r.event_id !== redacts);
        await readModel.deleteRoomEvent(trx, redacts);
      }
      continue;
    }
    if (e.state_key === "" && e.type in ROOM_STATE) {
      const [field, contentKey] = ROOM_STATE[e.type as keyof typeof ROOM_STATE];
      const v = e.content[contentKey];
      await readModel.setRoomState(
        trx,
        e.room_id,
        field,
        typeof v === "string" ? v : null,
        e.origin_server_ts,
      );
    }
    const row = rows[i];
    if (row && !encrypted.has(e.room_id)) pending.push(row);
  }
  if (pending.length) await readModel.insertRoomEvents(trx, pending);
}

/** One room event into the read model (a batch's events are retried alone when one fails). */
export function applyRoomEvent(trx: Trx, e: RoomEventStored): Promise<void> {
  return applyRoomEvents(trx, [e]);
}

const roomEventsHandler: EventHandler<SearchTables, RoomEventStored> = {
  schema: roomEventStored,
  apply: (t, e) => applyRoomEvent(required(t), e),
  applyBatch: (t, items) =>
    applyRoomEvents(
      required(t),
      items.map((x) => x.payload),
    ),
};

/**
 * Search's consumers of the identity, content and homeserver topics. Their groups carry the
 * read model's generation (`search.room-events.g2`): a reindex moves to new groups, which read
 * each topic from its beginning.
 */
export function createSearchConsumers(
  db: Kysely<SearchTables>,
  bus: EventBus,
  logger: Logger,
  generation: number,
): EventConsumer<SearchTables>[] {
  const common = { service: "search", bus, logger, from: "earliest" as const };
  const g = `g${generation}`;
  return [
    new EventConsumer<SearchTables>({
      ...common,
      db,
      name: `users.${g}`,
      topics: [topicFor("user")],
      handlers: {
        "user.registered": on(userRegistered, async (t, p) => {
          if (p.is_guest) return;
          await readModel.upsertUser(required(t), {
            userId: p.user_id,
            localpart: p.localpart,
            at: p.created_at,
          });
        }),
        "user.profile_updated": on(profileUpdated, async (t, p, env) => {
          await readModel.setDisplayName(required(t), p.user_id, p.displayname, env.created_at);
        }),
        "user.deactivated": on(userDeactivated, async (t, p) => {
          await readModel.deleteUser(required(t), p.user_id);
        }),
      },
    }),
    new EventConsumer<SearchTables>({
      ...common,
      db,
      name: `posts.${g}`,
      topics: [topicFor("post")],
      handlers: {
        "post.published": on(postPublished, (t, p) => readModel.upsertPost(required(t), p)),
        "post.updated": on(postUpdated, (t, p) => readModel.upsertPost(required(t), p)),
        "post.deleted": on(postDeleted, (t, p) => readModel.deletePost(required(t), p.post_id)),
        "comment.created": on(commentCreated, (t, p) => readModel.upsertComment(required(t), p)),
        "comment.deleted": on(commentDeleted, (t, p) => readModel.deleteComment(required(t), p.comment_id)),
      },
    }),
    new EventConsumer<SearchTables>({
      ...common,
      db,
      name: `room-events.${g}`,
      topics: [topicFor("room")],
      handlers: {
        "room.event_stored": roomEventsHandler,
      },
    }),
  ];
}
