import type { Kysely } from "kysely";
import { userRegistered } from "../identity/events.ts";
import { EventConsumer, on } from "../platform/consumer.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import { SocialMetadataRepository } from "./social-metadata.repository.ts";
import type { GraphTables } from "./tables.ts";

/** Graph reacts to identity's events: every registered user gets a social_metadata row. */
export function graphIdentityConsumer(db: Kysely<GraphTables>, bus: EventBus, logger: Logger) {
  const repo = new SocialMetadataRepository(db);
  return new EventConsumer<GraphTables>({
    service: "graph",
    name: "identity-events",
    bus,
    db,
    logger,
    topics: [topicFor("user")],
    handlers: {
      "user.registered": on(userRegistered, async (trx, p) => {
        if (trx) await repo.createFor(trx, p.user_id, p.created_at);
      }),
    },
  });
}
