import { describe, it } from "vitest";
import { chatScenario } from "./chat-scenario.ts";
import { distributedBackends, startDistributed } from "./distributed.ts";

if (distributedBackends) {
  /**
   * The same matrix-js-sdk scenario through distributed mode: identity and the homeserver as two
   * processes, each on its own database as its own role, gRPC between them, events on Kafka.
   */
  chatScenario("matrix-js-sdk through distributed mode (identity over gRPC)", () =>
    startDistributed({ media: false }),
  );
} else {
  describe("matrix-js-sdk through distributed mode", () => {
    it.skip("needs DATABASE_URL and KAFKA_BROKERS (CI starts both)", () => {});
  });
  console.log("matrix-js-sdk-distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");
}
