import type { Kysely, Transaction } from "kysely";
import {
  CONTENT_AGGREGATE,
  commentCreated,
  postLiked,
  postShared,
  userMentioned,
} from "../content/events.ts";
import { followCreated, GRAPH_AGGREGATE } from "../graph/events.ts";
import { EventConsumer, on } from "../platform/consumer.ts";
import type { EventEnvelope } from "../platform/envelope.ts";
import { type EventBus, topicFor } from "../platform/event-bus.ts";
import type { Logger } from "../platform/logger.ts";
import type { NotificationsService } from "./service.ts";
import type { NotificationKind, NotificationsTables } from "./tables.ts";

type Trx = Transaction<NotificationsTables>;

/** A comment's text in the notification (and its push): enough to read, never the whole thing. */
const PREVIEW_CHARS = 200;

function required(trx: Trx | null): Trx {
  if (!trx) throw new Error("the notifications consumers need the service's database");
  return trx;
}

/**
 * Graph's and content's events as social notifications: a follow tells the followee; a like, a
 * comment or a share tells the post's author; a mention tells the one mentioned. Nobody is told
 * of their own doing. Each event id is recorded as processed with its notification (exactly once
 * per event); the dedup key also keeps a quick unlike/like or unfollow/follow from notifying
 * twice inside the window. A kind the user turned off stores nothing (NotificationsService).
 */
export function notificationsSocialConsumer(
  db: Kysely<NotificationsTables>,
  bus: EventBus,
  logger: Logger,
  service: NotificationsService,
  onApplied?: () => void,
): EventConsumer<NotificationsTables> {
  const tell = async (
    t: Trx | null,
    event: EventEnvelope,
    n: {
      userId: string;
      actor: string;
      kind: NotificationKind;
      dedupKey: string;
      body: Record<string, unknown>;
    },
  ) => {
    if (n.userId === n.actor) return;
    await service.notify(required(t), {
      userId: n.userId,
      kind: n.kind,
      sourceEventId: event.id,
      dedupKey: n.dedupKey,
      body: n.body,
      push: true,
    });
  };
  return new EventConsumer<NotificationsTables>({
    service: "notifications",
    name: "social-events",
    bus,
    db,
    logger,
    topics: [topicFor(GRAPH_AGGREGATE), topicFor(CONTENT_AGGREGATE)],
    onApplied,
    handlers: {
      "follow.created": on(followCreated, (t, p, e) =>
        tell(t, e, {
          userId: p.followee_id,
          actor: p.follower_id,
          kind: "follows",
          dedupKey: `follow:${p.follower_id}`,
          body: { type: "follow", follower_id: p.follower_id, created_at: p.created_at },
        }),
      ),
      "post.liked": on(postLiked, (t, p, e) =>
        tell(t, e, {
          userId: p.post_author_id,
          actor: p.user_id,
          kind: "likes",
          dedupKey: `like:${p.post_id}:${p.user_id}`,
          body: { type: "like", post_id: p.post_id, user_id: p.user_id, created_at: p.created_at },
        }),
      ),
      "comment.created": on(commentCreated, (t, p, e) =>
        tell(t, e, {
          userId: p.post_author_id,
          actor: p.author_id,
          kind: "comments",
          dedupKey: `comment:${p.comment_id}`,
          body: {
            type: "comment",
            post_id: p.post_id,
            comment_id: p.comment_id,
            parent_id: p.parent_id,
            author_id: p.author_id,
            preview: p.content.slice(0, PREVIEW_CHARS),
            created_at: p.created_at,
          },
        }),
      ),
      "post.shared": on(postShared, (t, p, e) =>
        tell(t, e, {
          userId: p.post_author_id,
          actor: p.user_id,
          kind: "shares",
          dedupKey: `share:${p.share_id}`,
          body: {
            type: "share",
            post_id: p.post_id,
            share_id: p.share_id,
            user_id: p.user_id,
            created_at: p.created_at,
          },
        }),
      ),
      "user.mentioned": on(userMentioned, (t, p, e) =>
        tell(t, e, {
          userId: p.mentioned_user_id,
          actor: p.author_id,
          kind: "mentions",
          dedupKey: `mention:${p.post_id}:${p.comment_id ?? ""}`,
          body: {
            type: "mention",
            post_id: p.post_id,
            comment_id: p.comment_id,
            author_id: p.author_id,
            created_at: p.created_at,
          },
        }),
      ),
    },
  });
}
