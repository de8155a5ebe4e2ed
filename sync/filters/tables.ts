import type { Generated, Kysely } from "kysely";

/** The sync area's table in the homeserver's (messaging) schema: stored filters (created by migrations/messaging/0300_client_config.ts). */
export type FilterTables = {
  user_filters: {
    filter_id: Generated<number>;
    user_id: string;
    filter_json: unknown;
    canonical: string;
    created_at: number;
  };
};

export type FiltersDb = Kysely<FilterTables>;
