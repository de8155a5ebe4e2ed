import { describe, it } from "vitest";
import { distributedBackends, startDistributed } from "./distributed.ts";
import { mediaScenario } from "./media-scenario.ts";

if (distributedBackends) {
  // identity, the homeserver and media as three processes behind a path router (media checks
  // tokens with identity over gRPC).
  mediaScenario("media through distributed mode (nova serve media behind a path router)", () =>
    startDistributed({ media: true }),
  );
} else {
  describe("media through distributed mode", () => {
    it.skip("needs DATABASE_URL and KAFKA_BROKERS (CI starts both)", () => {});
  });
  console.log("media-distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");
}
