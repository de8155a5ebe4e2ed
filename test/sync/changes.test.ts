import { describe, expect, it } from "vitest";
import { ChangeGuardedCache, ChangeIndex } from "../../sync/changes.ts";

describe("ChangeIndex", () => {
  it("answers per user and per room, by kind, for windows starting at or above its floor", () => {
    const idx = new ChangeIndex(10);
    idx.record(11, { roomIds: ["!a"], userIds: ["@u"], kinds: ["room"] });
    idx.record(12, { userIds: ["@v"], kinds: ["to_device"] });
    idx.record(13, { roomIds: ["!b"] }); // no kinds: every kind

    expect(idx.since(9)).toBeNull();
    const c10 = idx.since(10)!;
    expect(c10.forUser("@u", "room")).toBe(true);
    expect(c10.forUser("@u", "to_device")).toBe(false);
    expect(c10.forUser("@v", "to_device")).toBe(true);
    expect(c10.roomsWith(["!a", "!b", "!c"], "room")).toEqual(["!a", "!b"]);
    expect(c10.roomsWith(["!a", "!b"], "receipt")).toEqual(["!b"]);

    const c11 = idx.since(11)!;
    expect(c11.forUser("@u", "room")).toBe(false);
    expect(c11.roomsWith(["!a", "!b"], "room")).toEqual(["!b"]);
    expect(idx.since(13)!.forUser("@v", "to_device")).toBe(false);
  });

  it("stops answering windows that include a write whose touches are unknown", () => {
    const idx = new ChangeIndex(0);
    idx.record(5, { userIds: ["@u"], kinds: ["room"] });
    idx.forget(7);
    expect(idx.since(6)).toBeNull();
    expect(idx.since(7)).not.toBeNull();
  });
});

describe("ChangeGuardedCache", () => {
  it("reloads once a write of its kind touches the user after the cached read", async () => {
    const idx = new ChangeIndex(0);
    let safe = 3;
    const cache = new ChangeGuardedCache<number>(idx, () => safe, "account_data");
    let loads = 0;
    const load = async () => ++loads;
    expect(await cache.get("@u", load)).toBe(1);
    expect(await cache.get("@u", load)).toBe(1);
    idx.record(4, { userIds: ["@u"], kinds: ["receipt"] }); // another kind: still valid
    expect(await cache.get("@u", load)).toBe(1);
    idx.record(5, { userIds: ["@u"], kinds: ["account_data"] });
    safe = 5;
    expect(await cache.get("@u", load)).toBe(2);
    expect(await cache.get("@u", load)).toBe(2);
    idx.forget(9);
    expect(await cache.get("@u", load)).toBe(3);
  });
});
