import type { BusRecord, DeliveredRecord, EventBus, SubscribeOptions, Subscription } from "../event-bus.ts";

/**
 * One Kafka cluster shared by several Nova deployments (staging beside production, or the test
 * suite's clusters running at once): every topic and consumer group of this deployment is
 * prefixed with `<namespace>.`, so no deployment reads another's events or takes a share of its
 * partitions. Services see the plain names; the prefix is added on the way out and removed on
 * the way in.
 */
export class NamespacedEventBus implements EventBus {
  readonly kind: EventBus["kind"];
  private readonly prefix: string;

  constructor(
    private readonly inner: EventBus,
    namespace: string,
  ) {
    this.kind = inner.kind;
    this.prefix = `${namespace}.`;
  }

  ensureTopics(topics: string[]): Promise<void> {
    return this.inner.ensureTopics(topics.map((t) => this.prefix + t));
  }

  publish(records: BusRecord[]): Promise<void> {
    return this.inner.publish(records.map((r) => ({ ...r, topic: this.prefix + r.topic })));
  }

  subscribe(options: SubscribeOptions): Promise<Subscription> {
    const strip = (r: DeliveredRecord): DeliveredRecord =>
      r.topic.startsWith(this.prefix) ? { ...r, topic: r.topic.slice(this.prefix.length) } : r;
    return this.inner.subscribe({
      ...options,
      group: this.prefix + options.group,
      topics: options.topics.map((t) => this.prefix + t),
      handle: (records) => options.handle(records.map(strip)),
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
