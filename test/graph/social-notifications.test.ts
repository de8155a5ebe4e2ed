import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { contentEvent } from "../../companion-services/content/events.ts";
import { graphEvent } from "../../companion-services/graph/events.ts";
import { NotificationsService } from "../../companion-services/notifications/service.ts";
import { notificationsSocialConsumer } from "../../companion-services/notifications/social-consumers.ts";
import type { NotificationsTables } from "../../companion-services/notifications/tables.ts";
import type { EventConsumer } from "../../companion-services/platform/consumer.ts";
import { toRecord } from "../../companion-services/platform/envelope.ts";
import { MemoryEventBus } from "../../companion-services/platform/event-bus/memory.ts";
import type { NewEvent } from "../../companion-services/platform/outbox/writer.ts";
import { addPusher, wipe } from "../notifications/helpers.ts";
import { openFresh, silentLogger, waitFor } from "../platform/helpers.ts";

const BOB = "@bob:test";
const ALICE = "@alice:test";
const CAROL = "@carol:test";

describe("notifications from graph's and content's events (social-consumers.ts)", () => {
  let env: Awaited<ReturnType<typeof openFresh>>;
  let db: import("kysely").Kysely<NotificationsTables>;
  let bus: MemoryEventBus;
  let consumer: EventConsumer<NotificationsTables>;
  let service: NotificationsService;

  beforeAll(async () => {
    env = await openFresh(["notifications"]);
    db = env.databases.get<NotificationsTables>("notifications").db;
    bus = new MemoryEventBus();
    service = new NotificationsService(db, { dedupWindowMs: 60_000 });
    consumer = notificationsSocialConsumer(db, bus, silentLogger, service);
    await consumer.start();
  }, 60_000);
  afterAll(async () => {
    await consumer?.stop();
    await bus?.close();
    await env?.close();
  });
  beforeEach(() => wipe(db));

  /** Appends events to the bus as an outbox would; returns their ids. */
  const append = async (...events: NewEvent[]) => {
    const envelopes = events.map((e) => ({
      id: randomUUID(),
      aggregate_type: e.aggregateType,
      aggregate_id: e.aggregateId,
      event_type: e.eventType,
      payload: e.payload,
      metadata: {},
      created_at: Date.now(),
    }));
    await bus.publish(envelopes.map(toRecord));
    return envelopes;
  };
  const settled = (applied: number) =>
    waitFor(() => consumer.applied >= applied, 10_000, `${applied} applied`);
  const rows = (userId?: string) => {
    let q = db.selectFrom("notifications").selectAll().orderBy("seq");
    if (userId) q = q.where("user_id", "=", userId);
    return q.execute();
  };
  const post = randomUUID();

  it("turns a follow, a like, a comment, a share and a mention into one notification each for the right user", async () => {
    await addPusher(db, BOB, "phone");
    const start = consumer.applied;
    const comment = randomUUID();
    const share = randomUUID();
    const sent = await append(
      graphEvent("follow.created", { follower_id: ALICE, followee_id: BOB, created_at: 1 }),
      contentEvent("post.liked", { post_id: post, post_author_id: BOB, user_id: ALICE, created_at: 2 }),
      contentEvent("comment.created", {
        comment_id: comment,
        post_id: post,
        post_author_id: BOB,
        parent_id: null,
        author_id: ALICE,
        content: "x".repeat(500),
        created_at: 3,
      }),
      contentEvent("post.shared", {
        share_id: share,
        post_id: post,
        post_author_id: BOB,
        user_id: ALICE,
        created_at: 4,
      }),
      contentEvent("user.mentioned", {
        post_id: post,
        comment_id: null,
        author_id: BOB,
        mentioned_user_id: CAROL,
        created_at: 5,
      }),
    );
    await settled(start + 5);
    const bob = await rows(BOB);
    expect(bob.map((n) => n.kind).sort()).toEqual(["comments", "follows", "likes", "shares"]);
    expect(bob.every((n) => n.room_id === null && n.read_at === null)).toBe(true);
    expect(bob.find((n) => n.kind === "follows")).toMatchObject({
      source_event_id: sent[0]!.id,
      body: { type: "follow", follower_id: ALICE },
    });
    const c = bob.find((n) => n.kind === "comments")!;
    expect(c.body).toMatchObject({ type: "comment", comment_id: comment, author_id: ALICE });
    expect((c.body.preview as string).length).toBe(200);
    expect((await rows(CAROL)).map((n) => [n.kind, n.body.type, n.body.author_id])).toEqual([
      ["mentions", "mention", BOB],
    ]);
    // Bob's pusher gets a push for each of his.
    const queued = await db.selectFrom("push_queue").selectAll().where("user_id", "=", BOB).execute();
    expect(queued.length).toBe(4);
    // The unread badge counts social notifications one by one.
    expect(await service.unreadRoomCount(BOB)).toBe(4);
  });

  it("never tells anyone of their own doing", async () => {
    const start = consumer.applied;
    await append(
      contentEvent("post.liked", { post_id: post, post_author_id: BOB, user_id: BOB, created_at: 1 }),
      contentEvent("post.shared", {
        share_id: randomUUID(),
        post_id: post,
        post_author_id: BOB,
        user_id: BOB,
        created_at: 2,
      }),
      contentEvent("comment.created", {
        comment_id: randomUUID(),
        post_id: post,
        post_author_id: BOB,
        parent_id: null,
        author_id: BOB,
        content: "me",
        created_at: 3,
      }),
      contentEvent("user.mentioned", {
        post_id: post,
        comment_id: null,
        author_id: BOB,
        mentioned_user_id: BOB,
        created_at: 4,
      }),
    );
    await settled(start + 4);
    expect(await rows()).toEqual([]);
  });

  it("is idempotent: a redelivered event (same id) notifies once", async () => {
    const start = consumer.applied;
    const [e] = await append(
      graphEvent("follow.created", { follower_id: CAROL, followee_id: BOB, created_at: 1 }),
    );
    await settled(start + 1);
    await bus.publish([toRecord(e!), toRecord(e!)]);
    // A marker after the copies: once it is applied, the copies have been seen.
    await append(graphEvent("follow.created", { follower_id: ALICE, followee_id: CAROL, created_at: 2 }));
    await settled(start + 2);
    expect((await rows(BOB)).length).toBe(1);
    expect(consumer.applied).toBe(start + 2);
  });

  it("honours per-kind preferences: likes off stores no like, follows still arrive", async () => {
    await service.setPreferences(BOB, { likes: false });
    const start = consumer.applied;
    await append(
      contentEvent("post.liked", { post_id: post, post_author_id: BOB, user_id: CAROL, created_at: 1 }),
      graphEvent("follow.created", { follower_id: CAROL, followee_id: BOB, created_at: 2 }),
    );
    await settled(start + 2);
    expect((await rows(BOB)).map((n) => n.kind)).toEqual(["follows"]);
  });
});
