import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IDENTITY_PROTO } from "../../companion-services/identity/grpc.ts";
import type { GrpcIdentityClient } from "../../companion-services/identity/grpc-client.ts";
import type { ServiceDatabase } from "../../companion-services/platform/database.ts";
import { KafkaEventBus } from "../../companion-services/platform/event-bus/kafka.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import { PublishError, topicFor } from "../../companion-services/platform/event-bus.ts";
import { OutboxProcessor } from "../../companion-services/platform/outbox/processor.ts";
import type { OutboxTables } from "../../companion-services/platform/outbox/tables.ts";
import { withOutbox } from "../../companion-services/platform/outbox/writer.ts";
import { metricValue as metric } from "../helpers/metrics.ts";
import { identityOverGrpc, openFresh, pgAdminUrl, silentLogger } from "./helpers.ts";

describe(`platform metrics (${pgAdminUrl ? "PostgreSQL" : "PGlite"})`, () => {
  describe("outbox", () => {
    let env: Awaited<ReturnType<typeof openFresh>>;
    let database: ServiceDatabase<OutboxTables>;
    let bus: MemoryEventBus;

    beforeAll(async () => {
      env = await openFresh(["graph"]);
      database = env.databases.get<OutboxTables>("graph");
      bus = new MemoryEventBus({ maxRecordBytes: 16 * 1024 });
    }, 60_000);
    afterAll(async () => {
      await bus?.close();
      await env?.close();
    });

    const write = (payloads: unknown[]) =>
      withOutbox(database.db, database.schema, async (_trx, emit) => {
        for (const payload of payloads)
          emit({ aggregateType: "counter", aggregateId: "a", eventType: "counter.incremented", payload });
      });

    it("counts published, retried and dead-lettered events by service, and reports the lag", async () => {
      const service = { service: "graph" };
      const before = {
        published: await metric("nova_outbox_published_total", service),
        retried: await metric("nova_outbox_retried_total", service),
        dead: await metric("nova_outbox_dead_lettered_total", service),
      };
      const p = new OutboxProcessor({
        database: database as ServiceDatabase<unknown>,
        bus,
        logger: silentLogger,
        maxAttempts: 2,
        retryBaseMs: 1,
      });

      await write([{ n: 1 }, { n: 2 }, { n: 3 }]);
      await new Promise((r) => setTimeout(r, 200));
      expect(await p.drain()).toBe(3);
      expect(await metric("nova_outbox_published_total", service)).toBe(before.published + 3);
      // The claim that published them found events written at least 200 ms earlier…
      const lag = await metric("nova_outbox_lag_seconds", service);
      expect(lag).toBeGreaterThanOrEqual(0.2);
      expect(lag).toBeLessThan(60);
      // …and the next one found none due.
      await p.drain();
      expect(await metric("nova_outbox_lag_seconds", service)).toBe(0);

      // Larger than the bus accepts: rejected once (retried), then dead-lettered on the second try.
      await write([{ pad: "x".repeat(32 * 1024) }]);
      await p.drain();
      expect(await metric("nova_outbox_retried_total", service)).toBe(before.retried + 1);
      await new Promise((r) => setTimeout(r, 20));
      await p.drain();
      expect(await metric("nova_outbox_dead_lettered_total", service)).toBe(before.dead + 1);
      expect(await metric("nova_outbox_published_total", service)).toBe(before.published + 3);
    });
  });

  describe("Kafka producer", () => {
    it("counts a failed publish and times it", async () => {
      const bus = new KafkaEventBus({ brokers: ["127.0.0.1:1"], clientId: "metrics-test" });
      const errors = await metric("nova_kafka_produce_errors_total", { permanent: "false" });
      const timed = await metric("nova_kafka_produce_duration_seconds_count");
      await expect(
        bus.publish([{ topic: topicFor("counter"), key: "a", value: "{}", headers: {} }]),
      ).rejects.toBeInstanceOf(PublishError);
      expect(await metric("nova_kafka_produce_errors_total", { permanent: "false" })).toBe(errors + 1);
      expect(await metric("nova_kafka_produce_duration_seconds_count")).toBe(timed + 1);
      expect(await metric("nova_kafka_produced_messages_total", { topic: topicFor("counter") })).toBe(0);
      await bus.close();
    }, 30_000);
  });

  describe("gRPC", () => {
    let fixture: Awaited<ReturnType<typeof identityOverGrpc>>;
    let client: GrpcIdentityClient;
    let raw: grpc.Client;

    beforeAll(async () => {
      fixture = await identityOverGrpc();
      ({ client, raw } = fixture);
    }, 60_000);
    afterAll(() => fixture?.close());

    it("counts a call on both sides by method and code, and times it", async () => {
      const ok = { method: "Ping", code: "OK" };
      const server = await metric("nova_grpc_server_calls_total", ok);
      const clientCalls = await metric("nova_grpc_client_calls_total", ok);
      const serverTimed = await metric("nova_grpc_server_duration_seconds_count", { method: "Ping" });
      const clientTimed = await metric("nova_grpc_client_duration_seconds_count", { method: "Ping" });
      await client.ping();
      expect(await metric("nova_grpc_server_calls_total", ok)).toBe(server + 1);
      expect(await metric("nova_grpc_client_calls_total", ok)).toBe(clientCalls + 1);
      expect(await metric("nova_grpc_server_duration_seconds_count", { method: "Ping" })).toBe(
        serverTimed + 1,
      );
      expect(await metric("nova_grpc_client_duration_seconds_count", { method: "Ping" })).toBe(
        clientTimed + 1,
      );
    });

    it("counts errors by code on both sides", async () => {
      const denied = { method: "Login", code: "PERMISSION_DENIED" };
      const serverErrors = await metric("nova_grpc_server_errors_total", denied);
      const clientErrors = await metric("nova_grpc_client_errors_total", denied);
      await expect(client.login({ user: "nobody", password: "wrong" })).rejects.toMatchObject({
        status: 403,
      });
      expect(await metric("nova_grpc_server_errors_total", denied)).toBe(serverErrors + 1);
      expect(await metric("nova_grpc_client_errors_total", denied)).toBe(clientErrors + 1);
      expect(await metric("nova_grpc_server_calls_total", denied)).toBeGreaterThanOrEqual(1);

      // A request failing validation never reaches the handler, and is still counted.
      const invalid = { method: "GetUser", code: "INVALID_ARGUMENT" };
      const before = await metric("nova_grpc_server_errors_total", invalid);
      const code = await new Promise<number | undefined>((resolve) =>
        raw.makeUnaryRequest(
          `/${IDENTITY_PROTO.service}/GetUser`,
          (x: Buffer) => x,
          (x: Buffer) => x,
          Buffer.alloc(0),
          (err) => resolve(err?.code),
        ),
      );
      expect(code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(await metric("nova_grpc_server_errors_total", invalid)).toBe(before + 1);
    });
  });
});
