import type { Kysely } from "kysely";

/** The messaging tables of sliding sync connections (migrations/messaging/0600_sliding_sync.ts). */
export type SlidingTables = {
  /** One per (user, device, conn_id); `generation` changes when a request without `pos` restarts it. */
  sliding_sync_connections: {
    user_id: string;
    device_id: string;
    conn_id: string;
    generation: string;
    created_ts: number;
    last_used_ts: number;
  };
  /** The positions handed out on a connection, each with the connection state it stands for. */
  sliding_sync_positions: {
    user_id: string;
    device_id: string;
    conn_id: string;
    generation: string;
    seq: number;
    /** The position the request answered with this one used (null: a new connection). */
    base_seq: number | null;
    state: string;
    request_hash: string | null;
    response: string | null;
    created_ts: number;
  };
};

export type SlidingDb = Kysely<SlidingTables>;
