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
import { EventConsumer, on } from "../platform/consumer.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import { readModel } from "./read-model.repository.ts";
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

/**
 * One room event into the read model. m.room.encrypted events are ciphertext and never indexed;
 * a room with m.room.encryption is encrypted for good (the spec gives no way back): its indexed
 * events are dropped and none is indexed again, so plaintext a client sends to it anyway stays
 * out too. The topic is keyed by room, so a room's events arrive here in order.
 */
export async function applyRoomEvent(trx: Trx, e: RoomEventStored): Promise<void> {
  if (e.type === "m.room.encrypted") return;
  if (e.type === "m.room.encryption" && e.state_key === "") {
    await readModel.markEncrypted(trx, e.room_id, e.origin_server_ts);
    return;
  }
  if (e.type === "m.room.redaction") {
    if (typeof e.content.redacts === "string") await readModel.deleteRoomEvent(trx, e.content.redacts);
    return;
  }
  if (e.state_key === "" && e.type in ROOM_STATE) {
    const [field, contentKey] = ROOM_STATE[e.type as keyof typeof ROOM_STATE];
    const v = e.content[contentKey];
    await readModel.setRoomState(trx, e.room_id, field, typeof v === "string" ? v : null, e.origin_server_ts);
  }
  const searchable = searchableKey(e);
  if (!searchable || searchable.value.trim() === "") return;
  if (await readModel.isEncrypted(trx, e.room_id)) return;
  await readModel.insertRoomEvent(trx, {
    event_id: e.event_id,
    room_id: e.room_id,
    sender: e.sender,
    type: e.type,
    key: searchable.key,
    value: searchable.value,
    origin_server_ts: e.origin_server_ts,
    stream_position: e.stream_position,
  });
}

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
        "room.event_stored": on(roomEventStored, (t, e) => applyRoomEvent(required(t), e)),
      },
    }),
  ];
}
