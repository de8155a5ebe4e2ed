import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentCountsConsumer } from "../../companion-services/content/consumers.ts";
import { CONTENT_EVENTS, type ContentEventType } from "../../companion-services/content/events.ts";
import { type Content, createContent } from "../../companion-services/content/index.ts";
import { parseMentions } from "../../companion-services/content/mentions.ts";
import type { ContentTables } from "../../companion-services/content/tables.ts";
import type { MediaInfo, VideoInfo } from "../../companion-services/media/client.ts";
import { fromRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { DeliveredRecord } from "../../companion-services/platform/event-bus.ts";
import type { OutboxProcessor } from "../../companion-services/platform/outbox/processor.ts";
import { startOutbox } from "../../companion-services/platform/runtime.ts";
import { loadConfig } from "../../server/config.ts";
import { openFresh, silentLogger, waitFor } from "../platform/helpers.ts";

const BOB = "@bob:content.test";
const ALICE = "@alice:content.test";
const CAROL = "@carol:content.test";

/** A media service that knows a few uploads and videos. */
const media = {
  uploads: new Map<string, MediaInfo>(),
  videos: new Map<string, VideoInfo>(),
  async getMediaBatch(mxcs: string[]) {
    return mxcs.flatMap((m) => this.uploads.get(m) ?? []);
  },
  async getVideo(id: string) {
    return this.videos.get(id) ?? null;
  },
};

/** Alice follows Bob; nobody else follows anyone. */
const graph = {
  isFollowing: async (follower: string, followee: string) => follower === ALICE && followee === BOB,
};

/** Content on its own database with a memory bus: its events, mentions, visibility and counts. */
describe("content service", () => {
  let fresh: Awaited<ReturnType<typeof openFresh>>;
  let bus: MemoryEventBus;
  let content: Content;
  let outbox: OutboxProcessor;
  const records: DeliveredRecord[] = [];
  const events = (type: ContentEventType) =>
    records.flatMap((r) => {
      const d = fromRecord(r.value);
      return d.ok && d.envelope.event_type === type ? [d.envelope.payload as Record<string, unknown>] : [];
    });

  beforeAll(async () => {
    fresh = await openFresh(["content"]);
    bus = new MemoryEventBus();
    const config = loadConfig({ NOVA_DATA_DIR: "memory://" });
    await bus.subscribe({
      group: "test.recorder",
      topics: ["nova.post.events"],
      from: "earliest",
      handle: async (batch) => {
        records.push(...batch);
      },
    });
    content = createContent(fresh.databases.get("content"), { media, graph }, bus, silentLogger, config);
    await content.start();
    outbox = await startOutbox(fresh.databases.get("content"), bus, silentLogger, config.outbox);
    media.uploads.set("mxc://content.test/bobimage", {
      mxc: "mxc://content.test/bobimage",
      serverName: "content.test",
      mediaId: "bobimage",
      userId: BOB,
      contentType: "image/png",
      uploadName: null,
      bytes: 10,
      sha256: null,
      width: 1,
      height: 1,
      createdAt: 1,
      pending: false,
    });
    media.videos.set("11111111-1111-4111-8111-111111111111", {
      id: "11111111-1111-4111-8111-111111111111",
      mxc: "mxc://content.test/bobvideo",
      ownerId: BOB,
      title: null,
      durationMs: 1000,
      codec: "h264",
      createdAt: 1,
      stage: "ready",
      error: null,
      variants: [],
      posterMxc: null,
      views: 0,
      watchMs: 0,
    });
  });
  afterAll(async () => {
    await outbox?.stop();
    await content?.stop();
    await bus?.close();
    await fresh?.close();
  });

  it("parses Matrix user ids as mentions", () => {
    expect(
      parseMentions(
        `hi @alice:content.test and @carol:example.org:8448, again @alice:content.test. mail me@x:y, @Bad:x, @dan:[::1] @bob:content.test`,
        BOB,
      ),
    ).toEqual([ALICE, "@carol:example.org:8448", "@dan:[::1]"]);
  });

  it("publishes a post's events with its snapshot, and one mention per user named", async () => {
    const p = await content.service.posts.create(BOB, {
      content: `hello @alice:content.test @alice:content.test @carol:content.test and me ${BOB}`,
      images: ["mxc://content.test/bobimage"],
      videos: ["11111111-1111-4111-8111-111111111111"],
      language: "en",
    });
    await waitFor(() => events("post.published").some((e) => e.post_id === p.id));
    const published = events("post.published").find((e) => e.post_id === p.id);
    expect(CONTENT_EVENTS["post.published"].parse(published)).toMatchObject({
      author_id: BOB,
      images: ["mxc://content.test/bobimage"],
      videos: ["11111111-1111-4111-8111-111111111111"],
      language: "en",
      visibility: "public",
      shared_post_id: null,
    });
    const mentioned = events("user.mentioned").filter((e) => e.post_id === p.id);
    expect(mentioned.map((e) => e.mentioned_user_id).sort()).toEqual([ALICE, CAROL]);
    for (const m of mentioned) expect(CONTENT_EVENTS["user.mentioned"].safeParse(m).success).toBe(true);

    // Editing: post.updated, and only newly named people are told.
    await content.service.posts.edit(BOB, p.id, { content: "hello @alice:content.test @dan:content.test" });
    await waitFor(() => events("post.updated").some((e) => e.post_id === p.id));
    expect(
      events("user.mentioned")
        .filter((e) => e.post_id === p.id)
        .map((e) => e.mentioned_user_id)
        .sort(),
    ).toEqual([ALICE, CAROL, "@dan:content.test"]);

    await content.service.posts.delete(BOB, p.id);
    await waitFor(() => events("post.deleted").some((e) => e.post_id === p.id));
    expect(await content.service.getPost(p.id, BOB)).toBeNull();
    expect(await content.service.getPosts([p.id])).toEqual([]);
  });

  it("emits comment and mention events from comments", async () => {
    const p = await content.service.posts.create(BOB, { content: "comment here" });
    const c = await content.service.interactions.comment(ALICE, p.id, { content: "hey @carol:content.test" });
    await waitFor(() => events("comment.created").some((e) => e.comment_id === c.id));
    expect(events("comment.created").find((e) => e.comment_id === c.id)).toMatchObject({
      post_id: p.id,
      post_author_id: BOB,
      author_id: ALICE,
      parent_id: null,
    });
    expect(events("user.mentioned").find((e) => e.comment_id === c.id)).toMatchObject({
      mentioned_user_id: CAROL,
      author_id: ALICE,
    });
  });

  it("drafts emit nothing until published; unpublishing emits post.deleted", async () => {
    const d = await content.service.posts.create(BOB, {
      content: "draft @carol:content.test",
      status: "draft",
    });
    await content.service.posts.edit(BOB, d.id, { status: "published" });
    await waitFor(() => events("post.published").some((e) => e.post_id === d.id));
    expect(events("user.mentioned").filter((e) => e.post_id === d.id)).toHaveLength(1);
    await content.service.posts.edit(BOB, d.id, { status: "draft" });
    await waitFor(() => events("post.deleted").some((e) => e.post_id === d.id));
  });

  it("shows followers-only posts to followers (graph) and the author only", async () => {
    const p = await content.service.posts.create(BOB, { content: "inner circle", visibility: "followers" });
    expect(await content.service.getPost(p.id, ALICE)).not.toBeNull();
    expect(await content.service.getPost(p.id, CAROL)).toBeNull();
    expect(await content.service.getPost(p.id, BOB)).not.toBeNull();
    // A service asking sees it (feed shows it to followers only).
    expect(await content.service.getPost(p.id, null)).not.toBeNull();
    const forAlice = await content.service.posts.userPosts(BOB, ALICE, { limit: 100 });
    const forCarol = await content.service.posts.userPosts(BOB, CAROL, { limit: 100 });
    expect(forAlice.items.map((x) => x.id)).toContain(p.id);
    expect(forCarol.items.map((x) => x.id)).not.toContain(p.id);
    await expect(content.service.interactions.like(CAROL, p.id)).rejects.toMatchObject({ status: 404 });
    await expect(content.service.posts.edit(ALICE, p.id, { content: "x" })).rejects.toMatchObject({
      status: 403,
    });
    await expect(content.service.posts.edit(CAROL, p.id, { content: "x" })).rejects.toMatchObject({
      status: 404,
    });
  });

  it("refuses media that is not the poster's", async () => {
    await expect(
      content.service.posts.create(ALICE, { content: "x", images: ["mxc://content.test/bobimage"] }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      content.service.posts.create(ALICE, { content: "x", videos: ["11111111-1111-4111-8111-111111111111"] }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      content.service.posts.create(BOB, {
        content: "x",
        images: ["mxc://content.test/bobimage", "mxc://content.test/bobimage"],
      }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it("keeps counts from its own events, and a replay of the topic leaves them unchanged", async () => {
    const p = await content.service.posts.create(BOB, { content: "count me" });
    await content.service.interactions.like(ALICE, p.id);
    await content.service.interactions.like(ALICE, p.id);
    await content.service.interactions.like(CAROL, p.id);
    await content.service.interactions.unlike(CAROL, p.id);
    await content.service.interactions.unlike(CAROL, p.id);
    await content.service.interactions.like(BOB, p.id);
    await content.service.interactions.comment(ALICE, p.id, { content: "one" });
    await content.service.interactions.comment(CAROL, p.id, { content: "two" });
    const first = await content.service.interactions.share(CAROL, p.id, {});
    await content.service.interactions.share(CAROL, p.id, {});
    await content.service.interactions.share(ALICE, p.id, {});
    await content.service.posts.delete(CAROL, first.shareId);
    await content.service.interactions.share(CAROL, p.id, {});
    await content.service.posts.delete(
      CAROL,
      (await content.service.interactions.share(CAROL, p.id, {})).shareId,
    );
    const expected = { likeCount: 2, commentCount: 2, shareCount: 1 };
    await waitFor(async () => {
      const v = await content.service.getPost(p.id, null);
      return v?.likeCount === 2 && v.commentCount === 2 && v.shareCount === 1;
    });
    expect(events("post.liked").filter((e) => e.post_id === p.id)).toHaveLength(3);
    expect(events("post.unliked").filter((e) => e.post_id === p.id)).toHaveLength(1);
    expect(events("post.shared").filter((e) => e.post_id === p.id)).toHaveLength(3);

    // The whole topic again, through the same consumer group: every id is already processed.
    const db = fresh.databases.get<ContentTables>("content").db;
    const replay = contentCountsConsumer(db, bus, silentLogger);
    await replay.handleBatch([...records]);
    await replay.handleBatch([...records]);
    expect(replay.applied).toBe(0);
    expect(await content.service.getPost(p.id, null)).toMatchObject(expected);
  });

  it("writes only events that match their published schemas, keyed by post id", () => {
    expect(records.length).toBeGreaterThan(20);
    for (const r of records) {
      const d = fromRecord(r.value);
      expect(d.ok).toBe(true);
      if (!d.ok) continue;
      const type = d.envelope.event_type as ContentEventType;
      const parsed = CONTENT_EVENTS[type].safeParse(d.envelope.payload);
      expect(parsed.success, `${type}: ${JSON.stringify(d.envelope.payload)}`).toBe(true);
      expect(r.key).toBe((d.envelope.payload as { post_id: string }).post_id);
    }
  });
});
