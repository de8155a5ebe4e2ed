import { describe, it } from "vitest";
import { distributedBackends, startDistributed } from "./distributed.ts";
import { pushScenario } from "./push-scenario.ts";

if (distributedBackends) {
  // identity, the homeserver and notifications as three processes: room events reach
  // notifications over Kafka, pushers are set through a path router, tokens checked over gRPC.
  pushScenario("push through distributed mode (nova serve notifications over Kafka)", () =>
    startDistributed({ media: false, notifications: true }),
  );
} else {
  describe("push through distributed mode", () => {
    it.skip("needs DATABASE_URL and KAFKA_BROKERS (CI starts both)", () => {});
  });
  console.log("push-distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");
}
