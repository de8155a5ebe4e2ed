import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.ts";
import { register, type Session } from "./clients.ts";
import { distributedBackends, startDistributed } from "./distributed.ts";
import { socialScenario } from "./social-scenario.ts";

type Started = Awaited<ReturnType<typeof startDistributed>>;

if (distributedBackends) {
  // Every service its own process on its own database as its own role: graph, content, feed and
  // search beside identity, the homeserver, media and notifications; reads over gRPC, reactions
  // over Kafka, a path router in front as a load balancer would be.
  socialScenario("the social product through distributed mode (each service its own process)", () =>
    startDistributed({
      media: true,
      notifications: true,
      graph: true,
      content: true,
      feed: true,
      search: true,
    }),
  );

  describe("counts converge when content's consumer is killed mid-way", () => {
    let d: Started;
    const call = async (who: Session, method: string, path: string, body?: unknown) => {
      const res = await fetch(d.baseUrl + path, {
        method,
        headers: { Authorization: `Bearer ${who.accessToken}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    beforeAll(async () => {
      d = await startDistributed({ media: true, graph: true, content: true });
    }, 180_000);
    afterAll(() => d?.stop(), 60_000);

    it("SIGKILL right after 12 likes and 6 comments: after the restart each is counted once", async () => {
      const author = await register(d.baseUrl, "author");
      const fans = await Promise.all(Array.from({ length: 12 }, (_, i) => register(d.baseUrl, `fan${i}`)));
      const post = await call(author, "POST", "/_nova/v1/posts", { content: "count me" });
      expect(post.status).toBe(200);
      const id = String(post.body.post_id);
      const writes = await Promise.all([
        ...fans.map((f) => call(f, "PUT", `/_nova/v1/posts/${id}/like`)),
        ...fans.slice(0, 6).map((f) => call(f, "POST", `/_nova/v1/posts/${id}/comments`, { content: "hi" })),
      ]);
      expect(writes.map((w) => w.status)).toEqual(writes.map(() => 200));
      // Committed (likes, comments and their outbox rows), most not yet counted: kill it now.
      await d.content?.stop("SIGKILL");
      await d.restartContent();
      const counts = async () => {
        const p = await call(author, "GET", `/_nova/v1/posts/${id}`);
        return [p.body.like_count, p.body.comment_count];
      };
      await waitFor("the counts after the restart", async () => {
        const [likes, comments] = await counts();
        return likes === 12 && comments === 6;
      });
      // Redelivered events (the kill lost the consumer's offsets) must not count twice.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await counts()).toEqual([12, 6]);
    }, 120_000);
  });
} else {
  describe("the social product through distributed mode", () => {
    it.skip("needs DATABASE_URL and KAFKA_BROKERS (CI starts both)", () => {});
  });
  console.log("social-distributed.test: skipped, needs DATABASE_URL and KAFKA_BROKERS (CI)");
}
