import type { ApiRoute } from "../companion-services/platform/http/api.ts";
import type { Router } from "../companion-services/platform/http/router.ts";

/** Every service's /_nova/v1 route definitions, loaded on the first request for the document. */
async function allRoutes(): Promise<ApiRoute[]> {
  const [graph, content, feed, search] = await Promise.all([
    import("../companion-services/graph/routes.ts"),
    import("../companion-services/content/routes/index.ts"),
    import("../companion-services/feed/routes.ts"),
    import("../companion-services/search/routes.ts"),
  ]);
  return [...graph.GRAPH_ROUTES, ...content.CONTENT_ROUTES, ...feed.FEED_ROUTES, ...search.SEARCH_ROUTES];
}

/**
 * `GET /_nova/v1/openapi.json`: the OpenAPI 3.1 document of Nova's own REST API, generated from
 * the zod schemas each service validates its requests with. Served by the homeserver in every
 * mode (the definitions hold no handlers, so no service needs to run here to describe it).
 */
export function mountOpenApi(router: Router): void {
  let document: Promise<unknown> | null = null;
  router.get(
    "/_nova/v1/openapi.json",
    async () => {
      document ??= (async () => {
        const { openApiDocument } = await import("../companion-services/platform/http/api.ts");
        return openApiDocument(await allRoutes(), { title: "Nova /_nova/v1", version: "v1" });
      })();
      return { body: await document };
    },
    { auth: "none" },
  );
}
