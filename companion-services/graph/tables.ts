import type { OutboxTables } from "../platform/outbox/tables.ts";

/** The graph service's tables (migrations/graph). */
export type GraphTables = OutboxTables & {
  follows: { follower_id: string; followee_id: string; created_at: number };
  social_metadata: { user_id: string; follower_count: number; following_count: number; created_at: number };
  /** Messaging's ignored-user lists, as graph last heard them (`user_id` ignores `blocked_id`). */
  graph_blocks: { user_id: string; blocked_id: string; created_at: number };
};
