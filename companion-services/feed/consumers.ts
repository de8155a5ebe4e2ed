import { CONTENT_AGGREGATE, postDeleted, postPublished, postUpdated } from "../content/events.ts";
import { followCreated, followDeleted, GRAPH_AGGREGATE } from "../graph/events.ts";
import { EventConsumer, on } from "../platform/consumer.ts";
import type { EventBus } from "../platform/event-bus.ts";
import { topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import type { FeedWriter } from "./fanout.ts";
import type { FeedTables } from "./tables.ts";

/**
 * Feed's consumers of content's post events and graph's follow events. They keep no
 * processed-events rows: every effect is idempotent on the timeline store (the same post added
 * twice is one entry; removing an absent one is nothing), and holding a database transaction
 * open across a 100,000-timeline fan-out would only pin a connection.
 */
export function createFeedConsumers(
  writer: FeedWriter,
  bus: EventBus,
  logger: Logger,
): EventConsumer<FeedTables>[] {
  const posts = new EventConsumer<FeedTables>({
    service: "feed",
    name: "posts",
    bus,
    logger,
    topics: [topicFor(CONTENT_AGGREGATE)],
    handlers: {
      "post.published": on(postPublished, async (_trx, p) => {
        await unavailableIsInfrastructure(() =>
          writer.published({ postId: p.post_id, authorId: p.author_id, createdAt: p.created_at }),
        );
      }),
      "post.updated": on(postUpdated, async (_trx, p) => {
        await unavailableIsInfrastructure(() => writer.updated({ authorId: p.author_id }));
      }),
      "post.deleted": on(postDeleted, async (_trx, p) => {
        await unavailableIsInfrastructure(() => writer.deleted({ postId: p.post_id, authorId: p.author_id }));
      }),
    },
  });
  const follows = new EventConsumer<FeedTables>({
    service: "feed",
    name: "follows",
    bus,
    logger,
    topics: [topicFor(GRAPH_AGGREGATE)],
    handlers: {
      "follow.created": on(followCreated, async (_trx, p) => {
        await unavailableIsInfrastructure(() => writer.followed(p.follower_id, p.followee_id));
      }),
      "follow.deleted": on(followDeleted, async (_trx, p) => {
        await unavailableIsInfrastructure(() => writer.unfollowed(p.follower_id, p.followee_id));
      }),
    },
  });
  return [posts, follows];
}

/**
 * A timeline store that cannot be reached must not dead-letter events (the consumer's retries are
 * for events that fail on their own): its errors are reported as the connection failures the
 * consumer redelivers the batch on.
 */
async function unavailableIsInfrastructure(effect: () => Promise<unknown>): Promise<void> {
  try {
    await effect();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (
      /Connection is closed|Stream isn't writeable|max retries per request|ECONNREFUSED|ECONNRESET/i.test(
        message,
      )
    )
      throw new Error(`ECONNREFUSED: the timeline store is unreachable (${message})`);
    throw err;
  }
}
