import { describe, expect, it } from "vitest";
import { CONTENT_ROUTES } from "../../companion-services/content/index.ts";
import { openApiDocument } from "../../companion-services/platform/http/api.ts";

/** The lead publishes CONTENT_ROUTES in /_nova/v1/openapi.json: every route must render. */
describe("content's OpenAPI", () => {
  it("documents every content route from its zod schemas", () => {
    const doc = openApiDocument(CONTENT_ROUTES, { title: "Nova", version: "1" });
    const ops = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item ?? {}).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(ops.sort()).toEqual(
      [
        "POST /_nova/v1/posts",
        "GET /_nova/v1/posts/{postId}",
        "PATCH /_nova/v1/posts/{postId}",
        "DELETE /_nova/v1/posts/{postId}",
        "GET /_nova/v1/users/{userId}/posts",
        "GET /_nova/v1/posts/{postId}/comments",
        "POST /_nova/v1/posts/{postId}/comments",
        "DELETE /_nova/v1/posts/{postId}/comments/{commentId}",
        "PUT /_nova/v1/posts/{postId}/like",
        "DELETE /_nova/v1/posts/{postId}/like",
        "POST /_nova/v1/posts/{postId}/share",
        "GET /_nova/v1/bookmarks",
        "PUT /_nova/v1/bookmarks/{postId}",
        "DELETE /_nova/v1/bookmarks/{postId}",
        "GET /_nova/v1/bookmarks/collections",
        "POST /_nova/v1/bookmarks/collections",
      ].sort(),
    );
    expect(JSON.stringify(doc.paths?.["/_nova/v1/posts"])).toContain("visibility");
  });
});
