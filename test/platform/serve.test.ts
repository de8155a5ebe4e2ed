import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GraphTables } from "../../companion-services/graph/tables.ts";
import { main } from "../../server/cli.ts";
import { loadConfig } from "../../server/config.ts";
import { type Running, serve } from "../../server/serve.ts";
import { silentLogger, waitFor } from "./helpers.ts";

describe("nova serve", () => {
  it("rejects a missing or unknown target with the usage, and a lone service without Kafka", async () => {
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(await main(["serve"], {})).toBe(2);
      expect(await main(["serve", "video"], {})).toBe(2);
      expect(stderr.join("")).toMatch(
        /expected one of: all, homeserver, identity, media, notifications, graph, content, feed, search/,
      );
      expect(await main(["serve", "identity"], { NOVA_DATA_DIR: "memory://" })).toBe(1);
      expect(stderr.join("")).toMatch(/needs KAFKA_BROKERS/);
      // Content is a target of its own now, not a planned service.
      expect(await main(["serve", "content"], { NOVA_DATA_DIR: "memory://" })).toBe(1);
      expect(stderr.join("")).toMatch(/nova serve content runs one service .* needs KAFKA_BROKERS/);
    } finally {
      process.stderr.write = write;
    }
  });

  describe("all: the homeserver, identity and the companions in one process", () => {
    let running: Running;
    beforeAll(async () => {
      // One embedded database and the in-process bus, whatever the environment offers.
      const config = loadConfig({ NOVA_PORT: "0", NOVA_DATA_DIR: "memory://", NOVA_SERVER_NAME: "all.test" });
      running = await serve("all", config, silentLogger);
    }, 120_000);
    afterAll(async () => {
      await running?.close();
    });

    it("serves Matrix and delivers identity's events to graph in-process", async () => {
      const base = `http://127.0.0.1:${running.describe.port}`;
      expect(running.describe.bus).toBe("memory");
      const reg = await fetch(`${base}/_matrix/client/v3/register`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          username: "erin",
          password: "pw-erin-12345",
          auth: { type: "m.login.dummy" },
        }),
      });
      expect(reg.status).toBe(200);
      const graph = running.databases!.get<GraphTables>("graph").db;
      await waitFor(
        async () => (await graph.selectFrom("social_metadata").selectAll().execute()).length === 1,
        10_000,
        "social_metadata row",
      );
      expect(await graph.selectFrom("social_metadata").select("user_id").execute()).toEqual([
        { user_id: "@erin:all.test" },
      ]);
    });
  });
});
