import { sql, type Transaction } from "kysely";
import type { ContentTables } from "./tables.ts";

export type Counter = "like_count" | "comment_count" | "share_count";

/** post_metadata: written only by content's own consumer of its events (consumers.ts). */
export const metadataRepository = {
  /**
   * Adds `delta`, unclamped: a count is the sum of its events' deltas, so it converges whatever
   * order events of different keys arrive in (a share's deletion is keyed by the share, the share
   * by the original). Readers clamp a transient negative to zero.
   */
  async add(trx: Transaction<ContentTables>, postId: string, counter: Counter, delta: number): Promise<void> {
    await trx
      .updateTable("post_metadata")
      .set({ [counter]: sql<number>`${sql.ref(counter)} + ${delta}` })
      .where("post_id", "=", postId)
      .execute();
  },

  /** The post a share post shares, or null (content's own rows, read in the effect's transaction). */
  async sharedPostOf(trx: Transaction<ContentTables>, postId: string): Promise<string | null> {
    const r = await trx
      .selectFrom("posts")
      .select("shared_post_id")
      .where("id", "=", postId)
      .executeTakeFirst();
    return r?.shared_post_id ?? null;
  },
};
