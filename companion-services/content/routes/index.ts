import type { ApiRoute } from "../../platform/http/api.ts";
import type { Router } from "../../platform/http/router.ts";
import type { ContentService } from "../service.ts";
import { BOOKMARK_ROUTES, mountBookmarkRoutes } from "./bookmarks.routes.ts";
import { COMMENT_ROUTES, mountCommentRoutes } from "./comments.routes.ts";
import { mountPostRoutes, POST_ROUTES } from "./posts.routes.ts";
import { mountReactionRoutes, REACTION_ROUTES } from "./reactions.routes.ts";

/** Every content route as data, for `/_nova/v1/openapi.json`. */
export const CONTENT_ROUTES: readonly ApiRoute[] = [
  ...Object.values(POST_ROUTES),
  ...Object.values(COMMENT_ROUTES),
  ...Object.values(REACTION_ROUTES),
  ...Object.values(BOOKMARK_ROUTES),
] as readonly ApiRoute[];

export function mountContentRoutes(router: Router, content: ContentService): void {
  mountPostRoutes(router, content);
  mountCommentRoutes(router, content);
  mountReactionRoutes(router, content);
  mountBookmarkRoutes(router, content);
}
