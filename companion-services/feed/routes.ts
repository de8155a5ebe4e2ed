import { z } from "zod";
import { postJson, postToJson } from "../content/wire.ts";
import { defineRoute, mountRoute, pageOf, pageQuery, userIdSchema } from "../platform/http/api.ts";
import type { Router } from "../platform/http/router.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { FeedPreferences } from "./preferences.repository.ts";
import type { FeedService } from "./service.ts";

export const MAX_MUTED = 1_000;
export const MAX_LANGUAGES = 20;

/** A BCP 47 tag as clients send them (`en`, `pt-BR`, `zh-Hant-TW`); compared case-insensitively. */
const languageTag = z
  .string()
  .max(35)
  .regex(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/, "must be a BCP 47 language tag (en, pt-BR)");

const preferences = z.object({
  muted_user_ids: z.array(z.string()),
  hide_shares: z.boolean(),
  languages: z.array(z.string()),
});

const preferencesChange = z.object({
  muted_user_ids: z.array(userIdSchema).max(MAX_MUTED).optional(),
  hide_shares: z.boolean().optional(),
  languages: z.array(languageTag).max(MAX_LANGUAGES).optional(),
});

export const getFeed = defineRoute({
  method: "GET",
  path: "/_nova/v1/feed",
  summary:
    "The caller's home feed: posts of the authors they follow and their own, newest first; `next` continues below the last one shown",
  tag: "feed",
  query: pageQuery(20, 100),
  response: pageOf("posts", postJson),
});

export const getFeedPreferences = defineRoute({
  method: "GET",
  path: "/_nova/v1/feed/preferences",
  summary: "The caller's feed preferences",
  tag: "feed",
  response: preferences,
});

export const putFeedPreferences = defineRoute({
  method: "PUT",
  path: "/_nova/v1/feed/preferences",
  summary: "Changes the caller's feed preferences (fields left out keep their value)",
  tag: "feed",
  body: preferencesChange,
  response: preferences,
  maxBody: 128 * 1024,
});

/** Every feed route, for the OpenAPI document. */
export const FEED_ROUTES = [getFeed, getFeedPreferences, putFeedPreferences] as const;

export function mountFeedRoutes(router: Router, service: FeedService): void {
  mountRoute(router, getFeed, async ({ query, req }) => {
    const after = query.from ? decodeCursor(query.from) : null;
    const page = await service.page(req.auth!.userId, after, query.limit);
    return {
      posts: page.posts.map(postToJson),
      ...(page.next ? { next: encodeCursor(page.next) } : {}),
    };
  });
  mountRoute(router, getFeedPreferences, async ({ req }) =>
    preferencesJson(await service.getPreferences(req.auth!.userId)),
  );
  mountRoute(router, putFeedPreferences, async ({ body, req }) =>
    preferencesJson(
      await service.putPreferences(req.auth!.userId, {
        ...(body.muted_user_ids ? { mutedUserIds: body.muted_user_ids } : {}),
        ...(body.hide_shares !== undefined ? { hideShares: body.hide_shares } : {}),
        ...(body.languages ? { languages: body.languages } : {}),
      }),
    ),
  );
}

function preferencesJson(p: FeedPreferences): z.input<typeof preferences> {
  return { muted_user_ids: p.mutedUserIds, hide_shares: p.hideShares, languages: p.languages };
}
