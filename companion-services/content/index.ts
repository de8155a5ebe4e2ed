import type { GraphClient } from "../graph/client.ts";
import type { MediaClient } from "../media/client.ts";
import type { ServiceDatabase } from "../platform/database.ts";
import type { EventBus } from "../platform/event-bus.ts";
import type { Router } from "../platform/http/router.ts";
import type { Logger } from "../platform/logger.ts";
import type { ContentConfig } from "./config.ts";
import { contentCountsConsumer } from "./consumers.ts";
import { mountContentRoutes } from "./routes/index.ts";
import { ContentService } from "./service.ts";
import type { ContentTables } from "./tables.ts";

export type { ContentClient, PostView } from "./client.ts";
export { CONTENT_ROUTES } from "./routes/index.ts";
export { ContentService } from "./service.ts";

export type ContentDeps = {
  /** Images and videos of posts are checked here (in-process media, or GrpcMediaClient). */
  media: Pick<MediaClient, "getMediaBatch" | "getVideo">;
  /** Who follows whom, for followers-only posts; without it only the author sees them. */
  graph?: Pick<GraphClient, "isFollowing"> | undefined;
};

export type Content = {
  service: ContentService;
  /** Registers `/_nova/v1/posts*`, `/_nova/v1/users/{userId}/posts` and `/_nova/v1/bookmarks*`. */
  mount(router: Router): void;
  /** Starts the consumer that keeps post_metadata's counts from content's own events. */
  start(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * The content service on its own database: the same in the homeserver's process (npm start)
 * and in its own (`nova serve content`). Its outbox is started by the wiring, as media's is.
 */
export function createContent(
  database: ServiceDatabase<unknown>,
  deps: ContentDeps,
  bus: EventBus,
  logger: Logger,
  config: ContentConfig,
): Content {
  const own = database as ServiceDatabase<ContentTables>;
  const log = logger.child({ service: "content" });
  const service = new ContentService({
    db: own.db,
    schema: own.schema,
    media: deps.media,
    graph: deps.graph,
    settings: { maxPostChars: config.content.maxPostChars, maxCommentChars: config.content.maxCommentChars },
  });
  const counts = contentCountsConsumer(own.db, bus, log);
  return {
    service,
    mount(router) {
      mountContentRoutes(router, service);
    },
    async start() {
      await counts.start();
    },
    async stop() {
      await counts.stop();
    },
  };
}
