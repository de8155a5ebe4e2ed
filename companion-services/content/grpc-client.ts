import * as grpc from "@grpc/grpc-js";
import { type CallOptions, callUnary } from "../platform/rpc/client.ts";
import { loadService } from "../platform/rpc/proto.ts";
import type { ContentClient, PostPage, PostStatus, PostView } from "./client.ts";
import { CONTENT_PROTO } from "./grpc.ts";

type WirePost = {
  id: string;
  author_id: string;
  title?: string;
  content?: string;
  status: string;
  visibility: string;
  language?: string;
  images?: string[];
  videos?: string[];
  shared_post_id?: string;
  like_count?: number;
  comment_count?: number;
  share_count?: number;
  created_at: number;
  updated_at: number;
};

const STATUSES: readonly PostStatus[] = ["draft", "published", "deleted"];

/** ContentClient over gRPC: every method is a read, idempotent and retried within its deadline. */
export class GrpcContentClient implements ContentClient {
  private readonly client: grpc.Client;
  private readonly options: CallOptions;

  constructor(opts: { address: string; deadlineMs?: number; retries?: number }) {
    const Ctor = loadService(CONTENT_PROTO.file, CONTENT_PROTO.service);
    this.client = new Ctor(opts.address, grpc.credentials.createInsecure(), {
      "grpc.enable_retries": 0,
      "grpc.max_receive_message_length": 8 * 1024 * 1024,
    });
    this.options = { deadlineMs: opts.deadlineMs ?? 5_000, retries: opts.retries ?? 2 };
  }

  close(): void {
    this.client.close();
  }

  async getPost(postId: string, viewerId: string | null): Promise<PostView | null> {
    const r = await callUnary<{ post?: WirePost }>(
      this.client,
      "GetPost",
      { post_id: postId, ...(viewerId ? { viewer_id: viewerId } : {}) },
      this.options,
    );
    return r.post ? postFromWire(r.post) : null;
  }

  async getPosts(postIds: string[]): Promise<PostView[]> {
    if (postIds.length === 0) return [];
    const r = await callUnary<{ posts?: WirePost[] }>(
      this.client,
      "GetPosts",
      { post_ids: postIds },
      this.options,
    );
    return (r.posts ?? []).map(postFromWire);
  }

  async getUserPosts(authorId: string, page: { from?: string | null; limit: number }): Promise<PostPage> {
    const r = await callUnary<{ posts?: WirePost[]; next?: string }>(
      this.client,
      "GetUserPosts",
      { author_id: authorId, limit: page.limit, ...(page.from ? { from: page.from } : {}) },
      this.options,
    );
    return { items: (r.posts ?? []).map(postFromWire), next: r.next ?? null };
  }
}

function postFromWire(p: WirePost): PostView {
  return {
    id: p.id,
    authorId: p.author_id,
    title: p.title ?? null,
    content: p.content ?? "",
    status: STATUSES.find((s) => s === p.status) ?? "published",
    visibility: p.visibility === "followers" ? "followers" : "public",
    language: p.language ?? null,
    images: p.images ?? [],
    videos: p.videos ?? [],
    sharedPostId: p.shared_post_id ?? null,
    likeCount: Number(p.like_count ?? 0),
    commentCount: Number(p.comment_count ?? 0),
    shareCount: Number(p.share_count ?? 0),
    createdAt: Number(p.created_at),
    updatedAt: Number(p.updated_at),
  };
}
