import type { ContentClient, PostView } from "../content/client.ts";
import { type GraphClient, MAX_FOLLOW_PAGE } from "../graph/client.ts";
import type { FeedSettings } from "./config.ts";
import { FanInCache } from "./fan-in-cache.ts";
import type { FeedPreferences } from "./preferences.repository.ts";
import {
  compareEntries,
  type TimelineEntry,
  type TimelinePosition,
  type TimelineStore,
} from "./timeline-store.ts";

/** Candidate rounds per page before answering with what was found (and a cursor to go on). */
const MAX_ROUNDS = 5;
/** Whom one reader follows, at most (the graph's pages are read up to this). */
const MAX_FOLLOWING = 50_000;
/** Readers whose following list is kept. */
const FOLLOWING_ENTRIES = 10_000;

export type FeedPage = { posts: PostView[]; next: TimelinePosition | null };

/** How long the fan-in members among a reader's followees are reused, ms. */
const FAN_IN_MEMBERSHIP_MS = 5_000;

type Following = {
  /** Whom they follow, and themself. */
  authors: Set<string>;
  at: number;
  fanIn: string[];
  fanInAt: number;
};

/**
 * The read side: the reader's stored timeline merged with the recent posts of the fan-in authors
 * they follow, in one order (created_at, then post id), hydrated through content (which leaves
 * out deleted and unpublished posts) and filtered by the reader's preferences and by whom they
 * still follow. The cursor is the last position examined, so a page never repeats or skips an
 * item whatever is published meanwhile (new posts sort before every cursor).
 */
export class FeedReader {
  private readonly following = new Map<string, Following>();
  readonly fanIn: FanInCache;

  constructor(
    private readonly store: TimelineStore,
    private readonly graph: GraphClient,
    private readonly content: ContentClient,
    private readonly settings: FeedSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.fanIn = new FanInCache(content, settings.fanInTtlMs, settings.timelineCap, now);
  }

  forgetFollowing(userId: string): void {
    this.following.delete(userId);
  }

  async read(
    userId: string,
    prefs: FeedPreferences,
    after: TimelinePosition | null,
    limit: number,
  ): Promise<FeedPage> {
    const { authors, fanIn } = await this.followingOf(userId);
    const muted = new Set(prefs.mutedUserIds);
    const fanInAuthors = muted.size === 0 ? fanIn : fanIn.filter((a) => !muted.has(a));
    const languages = prefs.languages.map((l) => l.toLowerCase());
    const passes = (p: PostView) =>
      authors.has(p.authorId) &&
      !muted.has(p.authorId) &&
      !(prefs.hideShares && p.sharedPostId !== null) &&
      (languages.length === 0 || p.language === null || languageMatches(p.language, languages));

    const shown: PostView[] = [];
    let pos = after;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const batch = Math.min(200, Math.max(20, (limit - shown.length) * 2));
      const [stored, ...fanned] = await Promise.all([
        this.store.page(userId, pos, batch),
        ...fanInAuthors.map((a) => this.fanIn.after(a, pos, batch)),
      ]);
      const { items: candidates, truncated } = mergeUnique([stored!, ...fanned], batch);
      // Nothing lies beyond these candidates: no source filled its batch and the merge kept all.
      const exhausted = !truncated && stored!.length < batch && fanned.every((f) => f.length < batch);
      if (candidates.length === 0) return { posts: shown, next: null };
      const byId = new Map(
        (await this.content.getPosts(candidates.map((c) => c.postId))).map((p) => [p.id, p]),
      );
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]!;
        pos = c;
        const post = byId.get(c.postId);
        if (post && passes(post)) shown.push(post);
        if (shown.length === limit) {
          const more = i < candidates.length - 1 || !exhausted;
          return { posts: shown, next: more ? pos : null };
        }
      }
      if (exhausted) return { posts: shown, next: null };
    }
    return { posts: shown, next: pos };
  }

  /**
   * Whom the reader follows (and themself), kept for a while (follow events in this process
   * clear it), and which of them are fan-in authors, asked again more often: an author turning
   * fan-in shows in readers' feeds within FAN_IN_MEMBERSHIP_MS.
   */
  private async followingOf(userId: string): Promise<Following> {
    const now = this.now();
    const hit = this.following.get(userId);
    if (hit && now - hit.at < this.settings.followingTtlMs) {
      if (now - hit.fanInAt >= Math.min(FAN_IN_MEMBERSHIP_MS, this.settings.followingTtlMs)) {
        hit.fanIn = [...(await this.store.fanInAmong([...hit.authors]))];
        hit.fanInAt = now;
      }
      return hit;
    }
    const authors = new Set<string>([userId]);
    let from: string | null = null;
    do {
      const page = await this.graph.getUserFollowing(userId, { from, limit: MAX_FOLLOW_PAGE });
      for (const f of page.items) authors.add(f.userId);
      from = page.next;
    } while (from && authors.size <= MAX_FOLLOWING);
    const entry: Following = {
      authors,
      at: now,
      fanIn: [...(await this.store.fanInAmong([...authors]))],
      fanInAt: now,
    };
    this.following.delete(userId);
    this.following.set(userId, entry);
    if (this.following.size > FOLLOWING_ENTRIES) {
      const oldest = this.following.keys().next().value;
      if (oldest !== undefined) this.following.delete(oldest);
    }
    return entry;
  }
}

/** Sorted lists merged into one, each post once, at most `limit` (truncated: some were left). */
function mergeUnique(
  lists: TimelineEntry[][],
  limit: number,
): { items: TimelineEntry[]; truncated: boolean } {
  const all = lists.length === 1 ? [...lists[0]!] : lists.flat().sort(compareEntries);
  const seen = new Set<string>();
  const out: TimelineEntry[] = [];
  for (const e of all) {
    if (seen.has(e.postId)) continue;
    seen.add(e.postId);
    if (out.length === limit) return { items: out, truncated: true };
    out.push(e);
  }
  return { items: out, truncated: false };
}

/** `en` matches `en` and `en-GB`; `en-GB` matches only itself. */
function languageMatches(tag: string, wanted: string[]): boolean {
  const t = tag.toLowerCase();
  return wanted.some((w) => t === w || t.startsWith(`${w}-`));
}
