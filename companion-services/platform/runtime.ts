import type { ServiceDatabase } from "./database.ts";
import { KafkaEventBus } from "./event-bus/kafka.ts";
import { MemoryEventBus } from "./event-bus/memory.ts";
import type { EventBus } from "./event-bus.ts";
import type { Logger } from "./logger.ts";
import { OutboxProcessor } from "./outbox/processor.ts";
import type { OutboxSettings } from "./platform-config.ts";

/** Kafka when KAFKA_BROKERS is set, otherwise the in-process bus. */
export function createEventBus(
  kafkaBrokers: readonly string[] | undefined,
  logger: Logger,
  clientId: string,
): EventBus {
  if (kafkaBrokers && kafkaBrokers.length > 0) {
    return new KafkaEventBus({ brokers: [...kafkaBrokers], clientId, logger });
  }
  return new MemoryEventBus();
}

/** Starts a service's outbox processor with the configured settings; returns it (stop() on shutdown). */
export async function startOutbox(
  database: ServiceDatabase<unknown>,
  bus: EventBus,
  logger: Logger,
  outbox: OutboxSettings,
): Promise<OutboxProcessor> {
  const processor = new OutboxProcessor({
    database,
    bus,
    logger: logger.child({ outbox: database.service }),
    ...outbox,
  });
  await processor.start();
  return processor;
}
