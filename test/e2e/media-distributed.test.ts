import { randomBytes } from "node:crypto";
import { describe, it } from "vitest";
import {
  dropServiceRoles,
  type ProvisionOptions,
  provisionServiceRoles,
} from "../../companion-services/platform/roles.ts";
import { pathProxy } from "../helpers/path-proxy.ts";
import { pgAdminUrl } from "../platform/helpers.ts";
import { freePort, spawnReady } from "../platform/spawn.ts";
import { mediaScenario } from "./media-scenario.ts";

const kafka = process.env.KAFKA_BROKERS;

if (pgAdminUrl && kafka) {
  /**
   * The media scenario through distributed mode: identity, the homeserver and media as three
   * processes, each on its own database as its own role; a path proxy in front routes
   * `/_matrix/media/` and `/_matrix/client/v1/media/` to media, the rest to the homeserver, as a
   * load balancer would. Media checks tokens with identity over gRPC.
   */
  mediaScenario("media through distributed mode (nova serve media behind a path router)", async () => {
    const roles: ProvisionOptions = {
      adminUrl: pgAdminUrl ?? "",
      prefix: `nova_m${randomBytes(4).toString("hex")}`,
      services: ["identity", "messaging", "media"],
      layout: "databases",
    };
    const dbs = new Map((await provisionServiceRoles(roles)).map((s) => [s.service, s]));
    const identityGrpc = `127.0.0.1:${await freePort()}`;
    const common = { KAFKA_BROKERS: kafka, NOVA_DATA_DIR: "memory://" };
    const identity = await spawnReady(["server/cli.ts", "serve", "identity"], {
      ...common,
      IDENTITY_DATABASE_URL: dbs.get("identity")!.url,
      IDENTITY_GRPC_LISTEN: identityGrpc,
    });
    const homeserver = await spawnReady(["server/cli.ts", "serve", "homeserver"], {
      ...common,
      MESSAGING_DATABASE_URL: dbs.get("messaging")!.url,
      IDENTITY_GRPC_ADDRESS: identityGrpc,
      NOVA_PORT: "0",
    });
    const media = await spawnReady(["server/cli.ts", "serve", "media"], {
      ...common,
      MEDIA_DATABASE_URL: dbs.get("media")!.url,
      IDENTITY_GRPC_ADDRESS: identityGrpc,
      MEDIA_HTTP_PORT: "0",
      MEDIA_GRPC_LISTEN: `127.0.0.1:${await freePort()}`,
    });
    const proxy = await pathProxy([
      { prefix: "/_matrix/media/", port: Number(media.ready.port) },
      { prefix: "/_matrix/client/v1/media/", port: Number(media.ready.port) },
      { prefix: "", port: Number(homeserver.ready.port) },
    ]);
    return {
      baseUrl: `http://127.0.0.1:${proxy.port}`,
      async stop() {
        await proxy.close();
        await media.stop();
        await homeserver.stop();
        await identity.stop();
        await dropServiceRoles(roles);
      },
    };
  });
} else {
  describe("media through distributed mode", () => {
    it.skip("needs DATABASE_URL and KAFKA_BROKERS (CI starts both)", () => {});
  });
  console.log("media-distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");
}
