import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TimelineEntry, TimelineStore } from "../../companion-services/feed/timeline-store.ts";
import { openStore, REDIS_URL, type StoreKind } from "./helpers.ts";

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** The same contract, on both stores behind the port. */
describe.each(["memory", "redis"] as StoreKind[])("timeline store contract (%s)", (kind) => {
  const skip = kind === "redis" && !REDIS_URL;
  let store: TimelineStore;
  let close: () => Promise<void>;

  beforeEach(async () => {
    if (skip) return;
    ({ store, close } = await openStore(kind));
  });
  afterEach(async () => {
    if (!skip) await close();
  });

  const all = async (user: string, pageSize: number) => {
    const out: TimelineEntry[] = [];
    let after: TimelineEntry | null = null;
    for (;;) {
      const page = await store.page(user, after, pageSize);
      out.push(...page);
      if (page.length < pageSize) return out;
      after = page[page.length - 1]!;
    }
  };

  it.skipIf(skip)("orders by publish time, ties by post id, and pages below a cursor exactly", async () => {
    // Three posts share one millisecond: the cursor must split them without a gap or a repeat.
    await store.addToMany(["@a:t"], { postId: id(2), score: 1000 }, 800);
    await store.addToMany(["@a:t"], { postId: id(9), score: 1000 }, 800);
    await store.addToMany(["@a:t"], { postId: id(5), score: 1000 }, 800);
    await store.addToMany(["@a:t"], { postId: id(1), score: 2000 }, 800);
    await store.addToMany(["@a:t"], { postId: id(7), score: 500 }, 800);
    const expected = [id(1), id(9), id(5), id(2), id(7)];
    expect((await store.page("@a:t", null, 10)).map((e) => e.postId)).toEqual(expected);
    for (const size of [1, 2, 3]) expect((await all("@a:t", size)).map((e) => e.postId)).toEqual(expected);
    expect(await store.page("@a:t", { score: 1000, postId: id(5) }, 10)).toEqual([
      { postId: id(2), score: 1000 },
      { postId: id(7), score: 500 },
    ]);
    expect(await store.page("@nobody:t", null, 10)).toEqual([]);
  });

  it.skipIf(skip)("adds to many timelines at once, idempotently, and trims each to the cap", async () => {
    const users = Array.from({ length: 5_000 }, (_, i) => `@u${i}:t`);
    for (let n = 0; n < 12; n++) await store.addToMany(users, { postId: id(n), score: 1000 + n }, 10);
    await store.addToMany(users, { postId: id(11), score: 1011 }, 10);
    for (const u of [users[0]!, users[4_999]!]) {
      const page = await store.page(u, null, 100);
      expect(page.map((e) => e.postId)).toEqual(Array.from({ length: 10 }, (_, i) => id(11 - i)));
    }
    expect(await store.oldest(users[7]!)).toEqual({ postId: id(2), score: 1002 });
  });

  it.skipIf(skip)("removes a post from many timelines, and several posts from one", async () => {
    await store.addToMany(["@a:t", "@b:t"], { postId: id(1), score: 1 }, 800);
    await store.addMany(
      "@a:t",
      [
        { postId: id(2), score: 2 },
        { postId: id(3), score: 3 },
      ],
      800,
    );
    await store.removeFromMany(["@a:t", "@b:t", "@c:t"], id(1));
    expect((await store.page("@a:t", null, 10)).map((e) => e.postId)).toEqual([id(3), id(2)]);
    expect(await store.page("@b:t", null, 10)).toEqual([]);
    await store.removeMany("@a:t", [id(3), id(4)]);
    expect((await store.page("@a:t", null, 10)).map((e) => e.postId)).toEqual([id(2)]);
    expect(await store.oldest("@b:t")).toBeNull();
  });

  it.skipIf(skip)("remembers fan-in authors", async () => {
    expect(await store.fanInAmong(["@big:t", "@small:t"])).toEqual(new Set());
    await store.markFanIn("@big:t");
    await store.markFanIn("@big:t");
    expect(await store.fanInAmong(["@big:t", "@small:t"])).toEqual(new Set(["@big:t"]));
    expect(await store.fanInAmong([])).toEqual(new Set());
  });
});
