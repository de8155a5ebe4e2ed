import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.ts";
import { png } from "../media/helpers.ts";
import { register, type Session } from "./clients.ts";

export type SocialScenarioServer = { baseUrl: string; stop(): Promise<unknown> };

type Json = Record<string, unknown>;
type Post = { post_id: string; like_count: number; comment_count: number; images: string[] };

/**
 * The social product end to end, as a client sees it over /_nova/v1: alice follows bob; bob posts
 * with an image; alice's feed shows it within a second; alice likes and comments; the counts
 * follow; bob is notified; search finds the post by a word in it; bob deletes it and it leaves
 * feed and search. `start` gives the all-in-one process or the distributed services behind a
 * path router.
 */
export function socialScenario(name: string, start: () => Promise<SocialScenarioServer>): void {
  describe(name, () => {
    let server: SocialScenarioServer;
    let alice: Session;
    let bob: Session;
    let postId = "";

    const call = async (who: Session, method: string, path: string, body?: unknown) => {
      const headers: Record<string, string> = { Authorization: `Bearer ${who.accessToken}` };
      if (body !== undefined)
        headers["Content-Type"] = body instanceof Buffer ? "image/png" : "application/json";
      const res = await fetch(server.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : body instanceof Buffer ? body : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const ok = async (who: Session, method: string, path: string, body?: unknown) => {
      const r = await call(who, method, path, body);
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      return r.body;
    };
    const feedOf = async (who: Session) =>
      ((await ok(who, "GET", "/_nova/v1/feed?limit=20")).posts as Post[]).map((p) => p.post_id);
    const searchPosts = async (who: Session, word: string) =>
      ((await ok(who, "GET", `/_nova/v1/search?type=posts&q=${word}`)).results as { post_id: string }[]).map(
        (r) => r.post_id,
      );

    beforeAll(async () => {
      server = await start();
      alice = await register(server.baseUrl, "alice");
      bob = await register(server.baseUrl, "bob");
      // Graph learns of users from identity's events; a follow waits for bob to be known.
      await waitFor("graph to know bob", async () => {
        const r = await call(alice, "GET", `/_nova/v1/users/${encodeURIComponent(bob.userId)}/social`);
        return r.status === 200 ? r : null;
      });
    }, 120_000);
    afterAll(() => server?.stop());

    it("alice follows bob", async () => {
      const bobPath = `/_nova/v1/users/${encodeURIComponent(bob.userId)}`;
      expect(await ok(alice, "PUT", `${bobPath}/follow`)).toEqual({ following: true });
      await waitFor("bob's follower count", async () => {
        const s = await ok(alice, "GET", `${bobPath}/social`);
        return s.follower_count === 1 && s.following === true ? s : null;
      });
      const followers = (await ok(bob, "GET", `${bobPath}/followers`)).followers as { user_id: string }[];
      expect(followers.map((f) => f.user_id)).toEqual([alice.userId]);
    });

    it("bob posts with an image and alice's feed shows it within a second", async () => {
      const up = await ok(bob, "POST", "/_matrix/media/v3/upload?filename=sunrise.png", await png(64, 48));
      const posted = await ok(bob, "POST", "/_nova/v1/posts", {
        content: "A quiet sunrise over the harbour",
        images: [up.content_uri],
      });
      postId = String(posted.post_id);
      expect(posted.images).toEqual([up.content_uri]);
      const started = Date.now();
      await waitFor("the post in alice's feed", async () =>
        (await feedOf(alice)).includes(postId) ? true : null,
      );
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it("alice likes and comments; the counts follow and bob is notified", async () => {
      await ok(alice, "PUT", `/_nova/v1/posts/${postId}/like`);
      await ok(alice, "PUT", `/_nova/v1/posts/${postId}/like`);
      await ok(alice, "POST", `/_nova/v1/posts/${postId}/comments`, { content: `Lovely, ${bob.userId}!` });
      await waitFor("like and comment counts", async () => {
        const p = (await ok(alice, "GET", `/_nova/v1/posts/${postId}`)) as unknown as Post;
        return p.like_count === 1 && p.comment_count === 1 ? p : null;
      });
      const kinds = await waitFor("bob's notifications", async () => {
        const n = (await ok(bob, "GET", "/_nova/v1/notifications")).notifications as { kind: string }[];
        const seen = new Set(n.map((x) => x.kind));
        return ["follows", "likes", "comments"].every((k) => seen.has(k)) ? seen : null;
      });
      expect(kinds.has("likes")).toBe(true);
    });

    it("search finds the post by a word in it", async () => {
      await waitFor("the post in search", async () =>
        (await searchPosts(alice, "harbour")).includes(postId) ? true : null,
      );
    });

    it("bob deletes it: it leaves the feed and search", async () => {
      await ok(bob, "DELETE", `/_nova/v1/posts/${postId}`);
      expect((await call(alice, "GET", `/_nova/v1/posts/${postId}`)).status).toBe(404);
      await waitFor("the post gone from feed and search", async () =>
        !(await feedOf(alice)).includes(postId) && !(await searchPosts(alice, "harbour")).includes(postId)
          ? true
          : null,
      );
    });
  });
}
