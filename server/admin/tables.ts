import type { Generated, Kysely } from "kysely";
import type { RoomsTables } from "../rooms/tables.ts";

/** The admin API's messaging tables (migrations/messaging/0700_admin.ts). */
export type AdminOwnTables = {
  /** One row per admin API call: who, what, and how it ended. Bodies are never stored (passwords). */
  admin_audit_log: {
    id: Generated<number>;
    user_id: string;
    method: string;
    path: string;
    status: number;
    ip: string | null;
    at: number;
  };
  blocked_rooms: { room_id: string; blocked_by: string; blocked_at: number };
  server_notice_rooms: { user_id: string; room_id: string; created_at: number };
};

/**
 * What the admin repositories read and purge: their own tables and the rooms tables (the room
 * list's summaries, a purge's deletes). Same service, same database: messaging.
 */
export type AdminTables = AdminOwnTables & RoomsTables;
export type AdminDb = Kysely<AdminTables>;
