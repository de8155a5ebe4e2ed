import type { ServiceDatabase } from "./database.ts";
import type { KafkaBusOptions } from "./event-bus/kafka.ts";
import { MemoryEventBus } from "./event-bus/memory.ts";
import { NamespacedEventBus } from "./event-bus/namespace.ts";
import type { BusRecord, EventBus, SubscribeOptions, Subscription } from "./event-bus.ts";
import type { Logger } from "./logger.ts";
import { OutboxProcessor } from "./outbox/processor.ts";
import type { OutboxSettings } from "./platform-config.ts";

/**
 * Kafka when KAFKA_BROKERS is set, otherwise the in-process bus. With a namespace (KAFKA_NAMESPACE)
 * the deployment's topics and consumer groups carry it as a prefix.
 */
export function createEventBus(
  kafkaBrokers: readonly string[] | undefined,
  logger: Logger,
  clientId: string,
  namespace?: string,
): EventBus {
  if (kafkaBrokers && kafkaBrokers.length > 0) {
    const kafka = new LazyKafkaEventBus({ brokers: [...kafkaBrokers], clientId, logger });
    return namespace ? new NamespacedEventBus(kafka, namespace) : kafka;
  }
  return new MemoryEventBus();
}

/**
 * kafkajs loads when the bus is first used (every method is async), so the default in-process
 * bus of `npm start` never loads it.
 */
class LazyKafkaEventBus implements EventBus {
  readonly kind = "kafka" as const;
  private bus: Promise<EventBus> | null = null;

  constructor(private readonly options: KafkaBusOptions) {}

  private loaded(): Promise<EventBus> {
    this.bus ??= import("./event-bus/kafka.ts").then(
      ({ KafkaEventBus }) => new KafkaEventBus(this.options),
      (err: unknown) => {
        this.bus = null;
        throw err;
      },
    );
    return this.bus;
  }

  async ensureTopics(topics: string[]): Promise<void> {
    await (await this.loaded()).ensureTopics(topics);
  }

  async publish(records: BusRecord[]): Promise<void> {
    await (await this.loaded()).publish(records);
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    return (await this.loaded()).subscribe(options);
  }

  async close(): Promise<void> {
    if (this.bus) await (await this.bus).close();
  }
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
