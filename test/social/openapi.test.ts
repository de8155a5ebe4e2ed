import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe("GET /_nova/v1/openapi.json", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it("publishes every social route, with its parameters and schemas, without a token", async () => {
    const r = await s.call("GET", "/_nova/v1/openapi.json");
    expect(r.status).toBe(200);
    const doc = r.body as {
      openapi: string;
      paths: Record<string, Record<string, { tags: string[]; parameters?: { name: string }[] }>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    const expected: [string, string, string][] = [
      ["/_nova/v1/users/{userId}/follow", "put", "graph"],
      ["/_nova/v1/users/{userId}/followers", "get", "graph"],
      ["/_nova/v1/users/{userId}/social", "get", "graph"],
      ["/_nova/v1/posts", "post", "content"],
      ["/_nova/v1/posts/{postId}", "patch", "content"],
      ["/_nova/v1/posts/{postId}/comments", "get", "content"],
      ["/_nova/v1/posts/{postId}/like", "put", "content"],
      ["/_nova/v1/bookmarks/collections", "post", "content"],
      ["/_nova/v1/feed", "get", "feed"],
      ["/_nova/v1/feed/preferences", "put", "feed"],
      ["/_nova/v1/search", "get", "search"],
    ];
    for (const [path, method, tag] of expected) {
      expect(doc.paths[path]?.[method]?.tags, `${method} ${path}`).toEqual([tag]);
    }
    expect(doc.paths["/_nova/v1/users/{userId}/followers"]?.get?.parameters?.map((p) => p.name)).toEqual([
      "userId",
      "from",
      "limit",
    ]);
  });
});
