import { sql, type Transaction } from "kysely";
import type { ContentTables } from "./tables.ts";

export type Counter = "like_count" | "comment_count" | "share_count";

/** post_metadata: written only by content's own consumer of its events (consumers.ts). */
export const metadataRepository = {
  /** Adds `delta` (never below zero: an unlike replayed before its like cannot go negative). */
  async add(trx: Transaction<ContentTables>, postId: string, counter: Counter, delta: number): Promise<void> {
    await trx
      .updateTable("post_metadata")
      .set({ [counter]: sql<number>`GREATEST(0, ${sql.ref(counter)} + ${delta})` })
      .where("post_id", "=", postId)
      .execute();
  },
};
