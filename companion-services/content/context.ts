import type { Kysely } from "kysely";
import type { GraphClient } from "../graph/client.ts";
import type { MediaClient } from "../media/client.ts";
import type { PostAccess } from "./access.ts";
import type { ContentSettings } from "./config.ts";
import type { PostsRepository } from "./posts.repository.ts";
import type { ContentTables } from "./tables.ts";

/** What content's services share: its database and schema (for the outbox), repos, clients. */
export type ContentContext = {
  db: Kysely<ContentTables>;
  schema: string;
  posts: PostsRepository;
  access: PostAccess;
  media: Pick<MediaClient, "getMediaBatch" | "getVideo">;
  graph?: Pick<GraphClient, "isFollowing"> | undefined;
  settings: ContentSettings;
  now: () => number;
};
