import type { Generated } from "kysely";
import type { OutboxTables } from "../platform/outbox/tables.ts";

/** The search service's read model (migrations/search): derived copies, rebuildable from the topics. */
export type SearchTables = OutboxTables & {
  search_users: {
    user_id: string;
    localpart: string;
    display_name: string | null;
    updated_at: number;
    names: Generated<string>;
    document: Generated<string>;
  };
  search_posts: {
    post_id: string;
    author_id: string;
    title: string | null;
    content: string;
    visibility: string;
    language: string | null;
    created_at: number;
    updated_at: number;
    document: Generated<string>;
  };
  search_comments: {
    comment_id: string;
    post_id: string;
    author_id: string;
    content: string;
    created_at: number;
    document: Generated<string>;
  };
  search_rooms: {
    room_id: string;
    join_rule: string | null;
    name: string | null;
    topic: string | null;
    canonical_alias: string | null;
    encrypted: Generated<boolean>;
    updated_at: number;
    document: Generated<string>;
  };
  search_room_events: {
    event_id: string;
    room_id: string;
    sender: string;
    type: string;
    key: string;
    value: string;
    origin_server_ts: number;
    stream_position: number;
    document: Generated<string>;
  };
  search_generation: { id: number; generation: number; reindexed_at: number | null };
};
