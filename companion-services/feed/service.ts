import type { PostView } from "../content/client.ts";
import type { FeedPreferences, FeedPreferencesRepository } from "./preferences.repository.ts";
import type { FeedReader } from "./reader.ts";
import type { TimelinePosition } from "./timeline-store.ts";

/** Preferences read per feed page are reused this long (a PUT in this process clears them). */
const PREFS_TTL_MS = 2_000;
const PREFS_ENTRIES = 10_000;

/** What the feed's routes call: a page of the home feed, and the reader's preferences. */
export class FeedService {
  private readonly prefsCache = new Map<string, { prefs: FeedPreferences; at: number }>();

  constructor(
    private readonly preferences: FeedPreferencesRepository,
    readonly reader: FeedReader,
    private readonly now: () => number = Date.now,
  ) {}

  async page(
    userId: string,
    after: TimelinePosition | null,
    limit: number,
  ): Promise<{ posts: PostView[]; next: TimelinePosition | null }> {
    return this.reader.read(userId, await this.getPreferences(userId), after, limit);
  }

  async getPreferences(userId: string): Promise<FeedPreferences> {
    const hit = this.prefsCache.get(userId);
    if (hit && this.now() - hit.at < PREFS_TTL_MS) return hit.prefs;
    const prefs = await this.preferences.get(userId);
    this.prefsCache.set(userId, { prefs, at: this.now() });
    if (this.prefsCache.size > PREFS_ENTRIES) {
      const oldest = this.prefsCache.keys().next().value;
      if (oldest !== undefined) this.prefsCache.delete(oldest);
    }
    return prefs;
  }

  /** Fields left out keep their value. */
  async putPreferences(userId: string, changes: Partial<FeedPreferences>): Promise<FeedPreferences> {
    const current = await this.preferences.get(userId);
    const next: FeedPreferences = {
      mutedUserIds: [...new Set(changes.mutedUserIds ?? current.mutedUserIds)],
      hideShares: changes.hideShares ?? current.hideShares,
      languages: [...new Set((changes.languages ?? current.languages).map((l) => l.toLowerCase()))],
    };
    await this.preferences.put(userId, next, this.now());
    this.prefsCache.delete(userId);
    return next;
  }
}
