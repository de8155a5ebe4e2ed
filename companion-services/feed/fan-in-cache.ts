import type { ContentClient } from "../content/client.ts";
import { isAfter, type TimelineEntry, type TimelinePosition } from "./timeline-store.ts";

const PAGE = 100;
/** Fan-in authors whose recent posts are kept. */
const MAX_AUTHORS = 10_000;

type Slot = {
  entries: TimelineEntry[];
  next: string | null;
  done: boolean;
  at: number;
  /** One fetch at a time per author: concurrent readers wait for it instead of repeating it. */
  loading: Promise<void> | null;
};

/**
 * The recent posts of fan-in authors (those over the fan-out threshold), read from content at
 * read time and shared by every reader of this process for `ttlMs`: that is how late a new post
 * of theirs can show. Read only as deep as readers page, and never beyond `cap` posts (the depth
 * of a stored timeline).
 */
export class FanInCache {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly content: ContentClient,
    private readonly ttlMs: number,
    private readonly cap: number,
    private readonly now: () => number,
  ) {}

  forget(authorId: string): void {
    this.slots.delete(authorId);
  }

  /** Up to `n` of the author's posts after `pos`, in timeline order. */
  async after(authorId: string, pos: TimelinePosition | null, n: number): Promise<TimelineEntry[]> {
    let slot = this.slots.get(authorId);
    if (!slot || (this.now() - slot.at >= this.ttlMs && !slot.loading)) {
      slot = { entries: [], next: null, done: false, at: this.now(), loading: null };
      this.slots.set(authorId, slot);
      if (this.slots.size > MAX_AUTHORS) {
        const oldest = this.slots.keys().next().value;
        if (oldest !== undefined) this.slots.delete(oldest);
      }
    }
    for (;;) {
      if (slot.loading) {
        await slot.loading;
        continue;
      }
      const found = pos ? slot.entries.filter((e) => isAfter(e, pos)) : slot.entries;
      if (found.length >= n || slot.done) return found.slice(0, n);
      slot.loading = this.extend(authorId, slot).finally(() => {
        slot.loading = null;
      });
    }
  }

  private async extend(authorId: string, slot: Slot): Promise<void> {
    const page = await this.content.getUserPosts(authorId, { from: slot.next, limit: PAGE });
    for (const p of page.items) {
      if (slot.entries.length >= this.cap) break;
      slot.entries.push({ postId: p.id, score: p.createdAt });
    }
    slot.next = page.next;
    slot.done = page.next === null || page.items.length === 0 || slot.entries.length >= this.cap;
  }
}
