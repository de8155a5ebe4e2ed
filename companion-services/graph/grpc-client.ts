import * as grpc from "@grpc/grpc-js";
import { type CallOptions, callUnary } from "../platform/rpc/client.ts";
import { loadService } from "../platform/rpc/proto.ts";
import type { FollowPage, GraphClient, PageRequest, SocialMetadata } from "./client.ts";
import { GRAPH_PROTO } from "./grpc.ts";

type WirePage = { items?: { user_id: string; followed_at: number }[]; next?: string };
type WireMetadata = { user_id: string; follower_count?: number; following_count?: number };

/** GraphClient over gRPC: every method is a read, idempotent and retried within its deadline. */
export class GrpcGraphClient implements GraphClient {
  private readonly client: grpc.Client;
  private readonly options: CallOptions;

  constructor(opts: { address: string; deadlineMs?: number; retries?: number }) {
    const Ctor = loadService(GRAPH_PROTO.file, GRAPH_PROTO.service);
    this.client = new Ctor(opts.address, grpc.credentials.createInsecure(), {
      "grpc.enable_retries": 0,
      // A full page of 10,000 followers is well under this.
      "grpc.max_receive_message_length": 8 * 1024 * 1024,
    });
    this.options = { deadlineMs: opts.deadlineMs ?? 5_000, retries: opts.retries ?? 2 };
  }

  close(): void {
    this.client.close();
  }

  getUserFollowing(userId: string, page: PageRequest): Promise<FollowPage> {
    return this.page("GetUserFollowing", userId, page);
  }

  getUserFollowers(userId: string, page: PageRequest): Promise<FollowPage> {
    return this.page("GetUserFollowers", userId, page);
  }

  async isFollowing(followerId: string, followeeId: string): Promise<boolean> {
    const r = await callUnary<{ following?: boolean }>(
      this.client,
      "IsFollowing",
      { follower_id: followerId, followee_id: followeeId },
      this.options,
    );
    return r.following ?? false;
  }

  async getSocialMetadata(userId: string): Promise<SocialMetadata | null> {
    const r = await callUnary<{ metadata?: WireMetadata }>(
      this.client,
      "GetSocialMetadata",
      { user_id: userId },
      this.options,
    );
    if (!r.metadata) return null;
    return {
      userId: r.metadata.user_id,
      followerCount: r.metadata.follower_count ?? 0,
      followingCount: r.metadata.following_count ?? 0,
    };
  }

  private async page(method: string, userId: string, page: PageRequest): Promise<FollowPage> {
    const r = await callUnary<WirePage>(
      this.client,
      method,
      { user_id: userId, limit: page.limit, ...(page.from ? { from: page.from } : {}) },
      this.options,
    );
    return {
      items: (r.items ?? []).map((e) => ({ userId: e.user_id, followedAt: e.followed_at })),
      next: r.next ?? null,
    };
  }
}
