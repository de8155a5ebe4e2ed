import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { png, upload } from "../media/helpers.ts";
import { waitFor } from "../platform/helpers.ts";

type User = { userId: string; accessToken: string };

/** Content's REST API through the all-in-one homeserver (npm start's wiring). */
describe("content REST API", () => {
  let server: TestServer;
  let bob: User;
  let alice: User;

  beforeAll(async () => {
    server = await startTestServer({ NOVA_CONTENT_MAX_POST_CHARS: "200", NOVA_MEDIA_TRANSCODE_WORKERS: "0" });
    bob = await server.register();
    alice = await server.register();
  });
  afterAll(async () => {
    await server?.close();
  });

  const post = (u: User, body: unknown) =>
    server.call("POST", "/_nova/v1/posts", { token: u.accessToken, body });
  const get = (u: User, path: string) => server.call("GET", path, { token: u.accessToken });

  it("posts with an uploaded image and reads it back", async () => {
    const image = await upload(server, bob.accessToken, await png(20, 10), { contentType: "image/png" });
    const r = await post(bob, { title: "Hello", content: "first post", images: [image.mxc], language: "en" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      author_id: bob.userId,
      title: "Hello",
      content: "first post",
      status: "published",
      visibility: "public",
      language: "en",
      images: [image.mxc],
      videos: [],
      shared_post_id: null,
      like_count: 0,
    });
    const again = await get(alice, `/_nova/v1/posts/${r.body.post_id}`);
    expect(again.status).toBe(200);
    expect(again.body.images).toEqual([image.mxc]);
  });

  it("posts with one's own video from media's video API, and refuses someone else's", async () => {
    const clip = await upload(server, bob.accessToken, Buffer.from("not really a video"), {
      contentType: "video/mp4",
    });
    const created = await server.call("POST", "/_nova/v1/videos", {
      token: bob.accessToken,
      body: { mxc: clip.mxc },
    });
    expect(created.status).toBe(202);
    const videoId = created.body.video_id as string;
    const r = await post(bob, { content: "watch", videos: [videoId] });
    expect([r.status, r.body.videos]).toEqual([200, [videoId]]);
    expect((await post(alice, { content: "mine?", videos: [videoId] })).status).toBe(400);
    expect((await post(bob, { content: "x", videos: ["not-a-video-id"] })).status).toBe(400);
  });

  it("refuses someone else's image, an unknown mxc and a non-image upload", async () => {
    const alices = await upload(server, alice.accessToken, await png(4, 4), { contentType: "image/png" });
    const text = await upload(server, bob.accessToken, Buffer.from("hello"), { contentType: "text/plain" });
    for (const images of [
      [alices.mxc],
      [`mxc://${alices.serverName}/NoSuchMediaId`],
      [text.mxc],
      ["https://example.org/a.png"],
    ]) {
      const r = await post(bob, { content: "x", images });
      expect(r.status, JSON.stringify(images)).toBe(400);
    }
    const video = await post(bob, { content: "x", videos: ["00000000-0000-4000-8000-000000000000"] });
    expect(video.status).toBe(400);
  });

  it("answers bad input with 4xx Matrix errors", async () => {
    const cases: [unknown, number, string][] = [
      [{ content: 5 }, 400, "M_BAD_JSON"],
      [{}, 400, "M_BAD_JSON"],
      [{ content: "a\u0000b" }, 400, "M_BAD_JSON"],
      [{ content: "x".repeat(201) }, 400, "M_TOO_LARGE"],
      [{ content: "x", visibility: "friends" }, 400, "M_BAD_JSON"],
      [{ content: "x", status: "deleted" }, 400, "M_BAD_JSON"],
      [{ content: "x", images: "mxc://a/b" }, 400, "M_BAD_JSON"],
      [{ content: "x", language: "not a tag!" }, 400, "M_BAD_JSON"],
      [{ content: "x", extra: true }, 400, "M_BAD_JSON"],
    ];
    for (const [body, status, errcode] of cases) {
      const r = await post(bob, body);
      expect([r.status, r.body.errcode], JSON.stringify(body)).toEqual([status, errcode]);
    }
    const notJson = await server.call("POST", "/_nova/v1/posts", { token: bob.accessToken, raw: "{nope" });
    expect(notJson.body.errcode).toBe("M_NOT_JSON");
    expect((await server.call("POST", "/_nova/v1/posts", { body: { content: "x" } })).status).toBe(401);
    // A NUL in a path parameter is refused as such; an id that is not a post's is not found.
    expect((await get(bob, "/_nova/v1/posts/a%00b")).body.errcode).toBe("M_INVALID_PARAM");
    for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "%E2%9C%93", "x".repeat(100)]) {
      expect((await get(bob, `/_nova/v1/posts/${id}`)).status, id).toBe(404);
      expect(
        (
          await server.call("PATCH", `/_nova/v1/posts/${id}`, {
            token: bob.accessToken,
            body: { content: "y" },
          })
        ).status,
      ).toBe(404);
      expect((await server.call("DELETE", `/_nova/v1/posts/${id}`, { token: bob.accessToken })).status).toBe(
        404,
      );
      expect(
        (await server.call("PUT", `/_nova/v1/posts/${id}/like`, { token: bob.accessToken })).status,
      ).toBe(404);
      expect((await get(bob, `/_nova/v1/posts/${id}/comments`)).status).toBe(404);
      expect(
        (await server.call("PUT", `/_nova/v1/bookmarks/${id}`, { token: bob.accessToken, body: {} })).status,
      ).toBe(404);
    }
    expect((await get(bob, "/_nova/v1/users/not-a-user/posts")).body.errcode).toBe("M_INVALID_PARAM");
    expect((await get(bob, `/_nova/v1/users/${bob.userId}/posts?limit=0`)).status).toBe(400);
    expect((await get(bob, `/_nova/v1/users/${bob.userId}/posts?limit=abc`)).status).toBe(400);
    expect((await get(bob, `/_nova/v1/users/${bob.userId}/posts?from=garbage`)).body.errcode).toBe(
      "M_INVALID_PARAM",
    );
  });

  it("lets only the author edit (others 403) and delete (then 404)", async () => {
    const p = (await post(bob, { content: "original" })).body;
    const path = `/_nova/v1/posts/${p.post_id}`;
    const forbidden = await server.call("PATCH", path, {
      token: alice.accessToken,
      body: { content: "mine now" },
    });
    expect([forbidden.status, forbidden.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    expect((await server.call("DELETE", path, { token: alice.accessToken })).status).toBe(403);
    const edited = await server.call("PATCH", path, {
      token: bob.accessToken,
      body: { content: "edited", visibility: "public", title: null },
    });
    expect(edited.status).toBe(200);
    expect(edited.body.content).toBe("edited");
    const tooLong = await server.call("PATCH", path, {
      token: bob.accessToken,
      body: { content: "y".repeat(500) },
    });
    expect(tooLong.body.errcode).toBe("M_TOO_LARGE");
    expect((await server.call("DELETE", path, { token: bob.accessToken })).status).toBe(200);
    expect((await get(bob, path)).status).toBe(404);
    expect((await get(alice, path)).status).toBe(404);
    expect(
      (await server.call("PATCH", path, { token: bob.accessToken, body: { content: "back" } })).status,
    ).toBe(404);
    expect((await server.call("DELETE", path, { token: bob.accessToken })).status).toBe(404);
  });

  it("shows drafts to their author only, and publishes them", async () => {
    const d = (await post(bob, { content: "draft", status: "draft" })).body;
    const path = `/_nova/v1/posts/${d.post_id}`;
    expect(d.status).toBe("draft");
    expect((await get(bob, path)).status).toBe(200);
    expect((await get(alice, path)).status).toBe(404);
    const listed = await get(bob, `/_nova/v1/users/${bob.userId}/posts?limit=100`);
    expect((listed.body.posts as { post_id: string }[]).map((x) => x.post_id)).not.toContain(d.post_id);
    // Nothing hangs off a draft, not even its author's comment.
    const comment = await server.call("POST", `${path}/comments`, {
      token: bob.accessToken,
      body: { content: "c" },
    });
    expect(comment.status).toBe(404);
    await server.call("PATCH", path, { token: bob.accessToken, body: { status: "published" } });
    expect((await get(alice, path)).status).toBe(200);
  });

  it("threads comments, counts them, and refuses a parent from another post", async () => {
    const p = (await post(bob, { content: "talk to me" })).body;
    const other = (await post(bob, { content: "other" })).body;
    const path = `/_nova/v1/posts/${p.post_id}/comments`;
    const top = await server.call("POST", path, { token: alice.accessToken, body: { content: "top" } });
    expect(top.status).toBe(200);
    const reply = await server.call("POST", path, {
      token: bob.accessToken,
      body: { content: "reply", parent_id: top.body.comment_id },
    });
    expect(reply.body.parent_id).toBe(top.body.comment_id);
    const foreign = await server.call("POST", `/_nova/v1/posts/${other.post_id}/comments`, {
      token: bob.accessToken,
      body: { content: "x", parent_id: top.body.comment_id },
    });
    expect(foreign.status).toBe(400);
    for (const body of [
      { content: "" },
      { content: 3 },
      { content: "a\u0000" },
      { content: "x", parent_id: "nope" },
    ])
      expect(
        (await server.call("POST", path, { token: bob.accessToken, body })).status,
        JSON.stringify(body),
      ).toBe(400);
    const list = await get(alice, `${path}?limit=1`);
    expect((list.body.comments as unknown[]).length).toBe(1);
    const rest = await get(alice, `${path}?limit=10&from=${list.body.next}`);
    expect((rest.body.comments as { content: string }[]).map((c) => c.content)).toEqual(["reply"]);
    await waitFor(async () => (await get(bob, `/_nova/v1/posts/${p.post_id}`)).body.comment_count === 2);
    const del = await server.call("DELETE", `${path}/${reply.body.comment_id}`, { token: alice.accessToken });
    expect(del.status).toBe(403);
    expect(
      (await server.call("DELETE", `${path}/${top.body.comment_id}`, { token: bob.accessToken })).status,
    ).toBe(200);
    await waitFor(async () => (await get(bob, `/_nova/v1/posts/${p.post_id}`)).body.comment_count === 1);
  });

  it("keeps one like per user, idempotently, and counts them", async () => {
    const p = (await post(bob, { content: "like me" })).body;
    const path = `/_nova/v1/posts/${p.post_id}/like`;
    for (let i = 0; i < 3; i++) {
      const r = await server.call("PUT", path, { token: alice.accessToken });
      expect([r.status, r.body.liked]).toEqual([200, true]);
    }
    await server.call("PUT", path, { token: bob.accessToken });
    const postPath = `/_nova/v1/posts/${p.post_id}`;
    await waitFor(async () => (await get(bob, postPath)).body.like_count === 2);
    for (let i = 0; i < 2; i++) {
      const r = await server.call("DELETE", path, { token: alice.accessToken });
      expect([r.status, r.body.liked]).toEqual([200, false]);
    }
    await waitFor(async () => (await get(bob, postPath)).body.like_count === 1);
  });

  it("shares a public post once per user, as a post of the sharer's", async () => {
    const p = (await post(bob, { content: "share me" })).body;
    const r = await server.call("POST", `/_nova/v1/posts/${p.post_id}/share`, {
      token: alice.accessToken,
      body: { content: "look" },
    });
    expect(r.status).toBe(200);
    const share = r.body.post as Record<string, unknown>;
    expect(share).toMatchObject({ author_id: alice.userId, shared_post_id: p.post_id, content: "look" });
    const again = await server.call("POST", `/_nova/v1/posts/${p.post_id}/share`, {
      token: alice.accessToken,
      body: {},
    });
    expect(again.body.share_id).toBe(r.body.share_id);
    // A share of the share counts for the original.
    await server.call("POST", `/_nova/v1/posts/${share.post_id}/share`, { token: bob.accessToken, body: {} });
    await waitFor(async () => (await get(bob, `/_nova/v1/posts/${p.post_id}`)).body.share_count === 2);
    const mine = await get(alice, `/_nova/v1/users/${alice.userId}/posts`);
    expect((mine.body.posts as { shared_post_id: string }[])[0]?.shared_post_id).toBe(p.post_id);
    // A share cannot become a draft; deleting it takes it off the count, and sharing again counts anew.
    const draft = await server.call("PATCH", `/_nova/v1/posts/${share.post_id}`, {
      token: alice.accessToken,
      body: { status: "draft" },
    });
    expect(draft.status).toBe(400);
    await server.call("DELETE", `/_nova/v1/posts/${share.post_id}`, { token: alice.accessToken });
    await waitFor(async () => (await get(bob, `/_nova/v1/posts/${p.post_id}`)).body.share_count === 1);
    const reshared = await server.call("POST", `/_nova/v1/posts/${p.post_id}/share`, {
      token: alice.accessToken,
      body: {},
    });
    expect(reshared.body.share_id).not.toBe(r.body.share_id);
    await waitFor(async () => (await get(bob, `/_nova/v1/posts/${p.post_id}`)).body.share_count === 2);
    const followersOnly = (await post(bob, { content: "just friends", visibility: "followers" })).body;
    const refused = await server.call("POST", `/_nova/v1/posts/${followersOnly.post_id}/share`, {
      token: bob.accessToken,
      body: {},
    });
    expect(refused.status).toBe(403);
  });

  it("hides followers-only posts from others without graph", async () => {
    const p = (await post(bob, { content: "followers", visibility: "followers" })).body;
    expect((await get(bob, `/_nova/v1/posts/${p.post_id}`)).status).toBe(200);
    expect((await get(alice, `/_nova/v1/posts/${p.post_id}`)).status).toBe(404);
    const listed = await get(alice, `/_nova/v1/users/${bob.userId}/posts?limit=100`);
    expect((listed.body.posts as { post_id: string }[]).map((x) => x.post_id)).not.toContain(p.post_id);
    expect(
      (await server.call("PUT", `/_nova/v1/posts/${p.post_id}/like`, { token: alice.accessToken })).status,
    ).toBe(404);
  });

  it("pages a user's posts newest first with an opaque next", async () => {
    const carol = await server.register();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await post(carol, { content: `n${i}` })).body.post_id as string);
    const seen: string[] = [];
    let from: string | undefined;
    do {
      const r = await get(
        alice,
        `/_nova/v1/users/${carol.userId}/posts?limit=2${from ? `&from=${from}` : ""}`,
      );
      expect(r.status).toBe(200);
      seen.push(...(r.body.posts as { post_id: string }[]).map((x) => x.post_id));
      from = r.body.next as string | undefined;
    } while (from);
    expect(seen).toEqual(ids.reverse());
  });

  it("keeps bookmarks and collections per user", async () => {
    const p1 = (await post(bob, { content: "keep 1" })).body;
    const p2 = (await post(bob, { content: "keep 2" })).body;
    const c = await server.call("POST", "/_nova/v1/bookmarks/collections", {
      token: alice.accessToken,
      body: { name: "Reading" },
    });
    expect(c.status).toBe(200);
    const same = await server.call("POST", "/_nova/v1/bookmarks/collections", {
      token: alice.accessToken,
      body: { name: "Reading" },
    });
    expect(same.body.collection_id).toBe(c.body.collection_id);
    for (const body of [{ name: "" }, { name: 1 }, { name: "x".repeat(101) }, { name: "   " }])
      expect(
        (await server.call("POST", "/_nova/v1/bookmarks/collections", { token: alice.accessToken, body }))
          .status,
      ).toBe(400);
    expect(
      (await server.call("PUT", `/_nova/v1/bookmarks/${p1.post_id}`, { token: alice.accessToken, body: {} }))
        .status,
    ).toBe(200);
    expect(
      (
        await server.call("PUT", `/_nova/v1/bookmarks/${p2.post_id}`, {
          token: alice.accessToken,
          body: { collection_id: c.body.collection_id },
        })
      ).status,
    ).toBe(200);
    // Bob cannot file into Alice's collection.
    const foreign = await server.call("PUT", `/_nova/v1/bookmarks/${p1.post_id}`, {
      token: bob.accessToken,
      body: { collection_id: c.body.collection_id },
    });
    expect(foreign.status).toBe(404);
    const all = await get(alice, "/_nova/v1/bookmarks");
    expect((all.body.bookmarks as { post_id: string }[]).map((b) => b.post_id)).toEqual([
      p2.post_id,
      p1.post_id,
    ]);
    const inC = await get(alice, `/_nova/v1/bookmarks?collection_id=${c.body.collection_id}`);
    expect((inC.body.bookmarks as { post_id: string }[]).map((b) => b.post_id)).toEqual([p2.post_id]);
    expect(((await get(bob, "/_nova/v1/bookmarks")).body.bookmarks as unknown[]).length).toBe(0);
    const cols = await get(alice, "/_nova/v1/bookmarks/collections");
    expect((cols.body.collections as { name: string }[]).map((x) => x.name)).toEqual(["Reading"]);
    await server.call("DELETE", `/_nova/v1/bookmarks/${p1.post_id}`, { token: alice.accessToken });
    expect(
      (await server.call("DELETE", `/_nova/v1/bookmarks/${p1.post_id}`, { token: alice.accessToken })).status,
    ).toBe(200);
    // A deleted post leaves the bookmarks.
    await server.call("DELETE", `/_nova/v1/posts/${p2.post_id}`, { token: bob.accessToken });
    expect(((await get(alice, "/_nova/v1/bookmarks")).body.bookmarks as unknown[]).length).toBe(0);
  });
});
