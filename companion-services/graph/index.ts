import type { EventConsumer } from "../platform/consumer.ts";
import type { ServiceDatabase } from "../platform/database.ts";
import type { EventBus } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import { graphIdentityConsumer } from "./consumers.ts";
import type { GraphTables } from "./tables.ts";

/** Graph's consumers on its own database (started by the caller). */
export function createGraphConsumers(
  database: ServiceDatabase<unknown>,
  bus: EventBus,
  logger: Logger,
): EventConsumer<GraphTables>[] {
  return [graphIdentityConsumer((database as ServiceDatabase<GraphTables>).db, bus, logger)];
}
