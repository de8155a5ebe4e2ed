/**
 * The event bus every service publishes to and consumes from: Kafka in distributed mode
 * (event-bus/kafka.ts), an in-process bus in the all-in-one mode (event-bus/memory.ts). Both keep
 * the order of records with the same key, deliver at least once, and track progress per group.
 */
export type BusRecord = {
  topic: string;
  /** Partitioning key: records with one key keep their order (the outbox uses aggregate_id). */
  key: string;
  value: string;
  headers: Record<string, string>;
};

export type DeliveredRecord = BusRecord & { partition: number; offset: string };

/**
 * A batch of records of one partition, in order. The handler resolves once every record is
 * handled (its effect committed or dead-lettered); the bus then commits the offsets. A rejection
 * means "could not handle now" (the database is down): the bus redelivers the batch later.
 */
export type BatchHandler = (records: DeliveredRecord[]) => Promise<void>;

export type SubscribeOptions = {
  /** Consumer group: one per service (and purpose), so each service sees every event once. */
  group: string;
  topics: string[];
  /** Where a group without committed offsets starts; default "earliest". */
  from?: "earliest" | "latest";
  handle: BatchHandler;
};

export type Subscription = { close(): Promise<void> };

/** A publish failure. `permanent` failures are about the records (too large…), not the broker. */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = "PublishError";
  }
}

export interface EventBus {
  readonly kind: "kafka" | "memory";
  /** Creates the topics if missing (Kafka: with the broker's default partition count). */
  ensureTopics(topics: string[]): Promise<void>;
  /** Resolves once every record is durably accepted; throws PublishError otherwise. */
  publish(records: BusRecord[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  close(): Promise<void>;
}

/** `nova.<aggregate>.events`, the seed's topic naming. */
export function topicFor(aggregateType: string): string {
  return `nova.${aggregateType}.events`;
}

/** Where records that cannot be published or handled go, with the reason in a header. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

export const HEADERS = {
  eventId: "event-id",
  eventType: "event-type",
  /** On dead letters: why, where (publish / consume:<group>), and the original topic. */
  deadLetterReason: "dead-letter-reason",
  deadLetterStage: "dead-letter-stage",
  originalTopic: "original-topic",
} as const;
