import type { OutboxTables } from "../platform/outbox/tables.ts";

/** The feed service's tables (migrations/feed). Timelines are not here: they live in the store. */
export type FeedTables = OutboxTables & {
  user_feed_preferences: {
    user_id: string;
    ranking: string;
    muted_user_ids: string[];
    hide_shares: boolean;
    languages: string[];
    updated_at: number;
  };
};
