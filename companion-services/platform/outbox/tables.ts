import type { Generated } from "kysely";

/**
 * The outbox and inbox every service has in its own schema. `outbox_events` is the seed's schema
 * plus `created_at`, `seq` (publish order: the commit order of writers to one aggregate),
 * `next_attempt_at` (backoff) and `dead_lettered_at`. `aggregate_id` is text, not uuid: Nova's
 * aggregates are Matrix identifiers (`@alice:example.org`, `!room:example.org`).
 */
export type OutboxTables = {
  outbox_events: {
    id: string;
    seq: Generated<number>;
    aggregate_type: string;
    aggregate_id: string;
    event_type: string;
    payload: unknown;
    metadata: Generated<Record<string, unknown>>;
    created_at: Generated<Date>;
    published_at: Date | null;
    retry_count: Generated<number>;
    last_error: string | null;
    next_attempt_at: Date | null;
    dead_lettered_at: Date | null;
  };
  /** Event ids this service's consumers have applied, written in the effect's transaction. */
  processed_events: {
    consumer: string;
    event_id: string;
    processed_at: Generated<Date>;
  };
};
