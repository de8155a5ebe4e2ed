import type { Kysely } from "kysely";
import { EventConsumer, on } from "../platform/consumer.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import {
  CONTENT_AGGREGATE,
  commentCreated,
  commentDeleted,
  postDeleted,
  postLiked,
  postShared,
  postUnliked,
} from "./events.ts";
import { type Counter, metadataRepository } from "./metadata.repository.ts";
import type { ContentTables } from "./tables.ts";

/**
 * post_metadata's counts, kept from content's own events: the consumer records each event id in
 * processed_events in the same transaction as the count change, so a replayed topic (or a
 * redelivery after a crash) never counts twice.
 */
export function contentCountsConsumer(db: Kysely<ContentTables>, bus: EventBus, logger: Logger) {
  const count =
    (counter: Counter, delta: number) =>
    async (trx: Parameters<typeof metadataRepository.add>[0] | null, p: { post_id: string }) => {
      if (trx) await metadataRepository.add(trx, p.post_id, counter, delta);
    };
  return new EventConsumer<ContentTables>({
    service: "content",
    name: "post-counts",
    bus,
    db,
    logger,
    topics: [topicFor(CONTENT_AGGREGATE)],
    handlers: {
      "post.liked": on(postLiked, count("like_count", 1)),
      "post.unliked": on(postUnliked, count("like_count", -1)),
      "comment.created": on(commentCreated, count("comment_count", 1)),
      "comment.deleted": on(commentDeleted, count("comment_count", -1)),
      "post.shared": on(postShared, count("share_count", 1)),
      // A share post deleted: the original counts one share fewer (its post_shares row is gone).
      "post.deleted": on(postDeleted, async (trx, p) => {
        if (!trx) return;
        const original = await metadataRepository.sharedPostOf(trx, p.post_id);
        if (original) await metadataRepository.add(trx, original, "share_count", -1);
      }),
    },
  });
}
