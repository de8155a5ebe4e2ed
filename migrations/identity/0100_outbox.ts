import type { Kysely } from "kysely";
import { createOutboxTables } from "../../companion-services/platform/outbox/schema.ts";

/** Identity's transactional outbox (user.registered, device.revoked…) and consumer inbox. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await createOutboxTables(db);
}
