import { type Admin, type Consumer, Kafka, logLevel, Partitioners, type Producer } from "kafkajs";
import {
  type BusRecord,
  type DeliveredRecord,
  type EventBus,
  PublishError,
  type SubscribeOptions,
  type Subscription,
} from "../event-bus.ts";
import type { Logger } from "../logger.ts";
import { kafkaMetrics } from "./kafka.metrics.ts";

export type KafkaBusOptions = {
  brokers: string[];
  clientId: string;
  logger?: Logger;
  /** Partitions of topics this bus creates. */
  partitions?: number;
};

/** Concurrent produce requests a large publish is split into (by key). */
const PUBLISH_LANES = 4;

/** Records per handler call: one consumer transaction covers this many events. */
const MAX_HANDLER_BATCH = 500;

/**
 * Kafka through kafkajs. Records are keyed (aggregate id → partition → order), written with
 * acks=all, and consumed by groups (one per service) that commit offsets only after the handler
 * resolved, so a crash redelivers rather than loses.
 */
export class KafkaEventBus implements EventBus {
  readonly kind = "kafka" as const;
  private readonly kafka: Kafka;
  private producer: Producer | null = null;
  private producerConnecting: Promise<Producer> | null = null;
  private readonly consumers = new Set<Consumer>();
  private readonly knownTopics = new Set<string>();

  constructor(private readonly options: KafkaBusOptions) {
    const log = options.logger;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      // Few quick retries inside kafkajs: the outbox processor owns the longer backoff.
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => {
        if (!log) return;
        const { message, ...rest } = entry.log;
        const fields = { namespace: entry.namespace, ...rest };
        if (entry.level <= logLevel.ERROR) log.error(fields, `kafka: ${message}`);
        else log.warn(fields, `kafka: ${message}`);
      },
    });
  }

  async ensureTopics(topics: string[]): Promise<void> {
    const missing = topics.filter((t) => !this.knownTopics.has(t));
    if (missing.length === 0) return;
    const admin: Admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const create = missing.filter((t) => !existing.has(t));
      if (create.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: create.map((topic) => ({ topic, numPartitions: this.options.partitions ?? 8 })),
        });
      }
      for (const t of missing) this.knownTopics.add(t);
    } finally {
      await admin.disconnect();
    }
  }

  async publish(records: BusRecord[]): Promise<void> {
    if (records.length === 0) return;
    // Split by key into a few groups sent concurrently: each key's records stay in one group, in
    // order, so per-key order holds while broker round trips overlap.
    const groups: Map<string, { key: string; value: string; headers: Record<string, string> }[]>[] = [];
    const lanes = records.length >= 200 ? PUBLISH_LANES : 1;
    for (let i = 0; i < lanes; i++) groups.push(new Map());
    for (const r of records) {
      const byTopic = groups[lanes === 1 ? 0 : hashKey(r.key) % lanes];
      const list = byTopic.get(r.topic) ?? [];
      list.push({ key: r.key, value: r.value, headers: r.headers });
      byTopic.set(r.topic, list);
    }
    const endTimer = kafkaMetrics.produceDuration.startTimer();
    try {
      const producer = await this.connectProducer();
      await Promise.all(
        groups
          .filter((g) => g.size > 0)
          .map((byTopic) =>
            producer.sendBatch({
              acks: -1,
              topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
            }),
          ),
      );
    } catch (err) {
      const permanent = isPermanent(err);
      kafkaMetrics.produceErrors.inc({ permanent: String(permanent) });
      throw new PublishError(describe(err), permanent);
    } finally {
      endTimer();
    }
    for (const byTopic of groups) {
      for (const [topic, messages] of byTopic) kafkaMetrics.produced.inc({ topic }, messages.length);
    }
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    await this.ensureTopics(options.topics);
    const consumer = this.kafka.consumer({
      groupId: options.group,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 100,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    this.consumers.add(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.from !== "latest" });
    let running = true;
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: 500,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({
        batch,
        resolveOffset,
        heartbeat,
        commitOffsetsIfNecessary,
        isRunning,
        isStale,
      }) => {
        const all: DeliveredRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key?.toString() ?? "",
          value: m.value?.toString() ?? "",
          headers: Object.fromEntries(
            Object.entries(m.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v)]),
          ),
        }));
        for (let i = 0; i < all.length; i += MAX_HANDLER_BATCH) {
          const chunk = all.slice(i, i + MAX_HANDLER_BATCH);
          let backoff = 100;
          // The handler only rejects when it cannot run at all (database down): keep the
          // partition where it is and retry, rather than skip or crash the consumer.
          for (;;) {
            if (!running || !isRunning() || isStale()) return;
            try {
              await options.handle(chunk);
              break;
            } catch (err) {
              this.options.logger?.warn(
                { err, group: options.group },
                "event handler failed; retrying batch",
              );
              await new Promise((r) => setTimeout(r, backoff));
              backoff = Math.min(backoff * 2, 5_000);
              await heartbeat();
            }
          }
          resolveOffset(chunk[chunk.length - 1].offset);
          kafkaMetrics.consumed.inc({ topic: batch.topic, group: options.group }, chunk.length);
          await heartbeat();
          await commitOffsetsIfNecessary();
        }
      },
    });
    return {
      close: async () => {
        running = false;
        this.consumers.delete(consumer);
        await consumer.disconnect();
      },
    };
  }

  async close(): Promise<void> {
    for (const c of this.consumers) await c.disconnect().catch(() => {});
    this.consumers.clear();
    const p = this.producer;
    this.producer = null;
    this.producerConnecting = null;
    if (p) await p.disconnect().catch(() => {});
  }

  private async connectProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    if (!this.producerConnecting) {
      // Kafka's default partitioner (murmur2 of the key), the same as the Java clients.
      const p = this.kafka.producer({
        allowAutoTopicCreation: true,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.producerConnecting = p.connect().then(
        () => {
          this.producer = p;
          return p;
        },
        (err: unknown) => {
          this.producerConnecting = null;
          throw err;
        },
      );
    }
    return this.producerConnecting;
  }
}

type KafkaishError = Error & {
  retriable?: boolean;
  type?: string;
  cause?: unknown;
  originalError?: unknown;
};

/** A broker's non-retriable protocol error (MESSAGE_TOO_LARGE, INVALID_RECORD…) is about the records. */
function isPermanent(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    const k = e as KafkaishError;
    if (k.name === "KafkaJSProtocolError" && k.retriable === false) return true;
    e = k.originalError ?? k.cause;
  }
  return false;
}

function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    const k = e as KafkaishError;
    parts.push(k.type ? `${k.message} (${k.type})` : k.message);
    e = k.originalError ?? k.cause;
  }
  return parts.join(": ") || String(err);
}

function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
