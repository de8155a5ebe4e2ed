import type { GraphClient } from "../graph/client.ts";
import type { PostView } from "./client.ts";

/**
 * Who may see a post. Deleted: nobody. Draft: its author. Followers-only: its author and whoever
 * follows them (graph answers; without graph, only the author). A null viewer is another service,
 * which sees every published post (feed shows followers-only posts to followers only).
 */
export class PostAccess {
  constructor(private graph: Pick<GraphClient, "isFollowing"> | undefined) {}

  useGraph(graph: Pick<GraphClient, "isFollowing">): void {
    this.graph = graph;
  }

  async canSee(post: Pick<PostView, "status" | "visibility" | "authorId">, viewerId: string | null) {
    if (post.status === "deleted") return false;
    if (viewerId === post.authorId) return true;
    if (post.status !== "published") return false;
    if (post.visibility === "public" || viewerId === null) return true;
    return this.follows(viewerId, post.authorId);
  }

  /** Whether the viewer sees the author's followers-only posts. */
  async follows(viewerId: string | null, authorId: string): Promise<boolean> {
    if (viewerId === authorId) return true;
    if (!viewerId || !this.graph) return false;
    return this.graph.isFollowing(viewerId, authorId);
  }
}
