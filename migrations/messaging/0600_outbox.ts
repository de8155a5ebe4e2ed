import type { Kysely } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/**
 * The homeserver's transactional outbox: room events (with each recipient's push actions),
 * membership changes and read receipts leave here for the bus, committed with the write itself.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await createOutboxTables(db);
}
