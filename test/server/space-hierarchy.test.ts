import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** Spaces: GET /_matrix/client/v1/rooms/{roomId}/hierarchy over local rooms. */
let server: TestServer;
let alice: { userId: string; accessToken: string };
let bob: { userId: string; accessToken: string };
let space: string;
const rooms: Record<string, string> = {};

const create = async (token: string, body: Record<string, unknown>) => {
  const r = await server.call("POST", "/_matrix/client/v3/createRoom", { token, body });
  expect(r.status).toBe(200);
  return r.body.room_id as string;
};
const link = (parent: string, child: string, content: Record<string, unknown>) =>
  server.call("PUT", `/_matrix/client/v3/rooms/${parent}/state/m.space.child/${encodeURIComponent(child)}`, {
    token: alice.accessToken,
    body: content,
  });
const hierarchy = (token: string, roomId: string, q = "") =>
  server.call("GET", `/_matrix/client/v1/rooms/${roomId}/hierarchy${q}`, { token });
const ids = (body: Record<string, unknown>) => (body.rooms as { room_id: string }[]).map((r) => r.room_id);

beforeAll(async () => {
  server = await startTestServer();
  alice = await server.register();
  bob = await server.register();
  space = await create(alice.accessToken, {
    name: "Space",
    preset: "public_chat",
    creation_content: { type: "m.space" },
  });
  rooms.public = await create(alice.accessToken, { name: "Public", preset: "public_chat" });
  rooms.private = await create(alice.accessToken, { name: "Private", preset: "private_chat" });
  rooms.readable = await create(alice.accessToken, {
    name: "Readable",
    preset: "private_chat",
    initial_state: [
      { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } },
    ],
  });
  rooms.sub = await create(alice.accessToken, {
    name: "Subspace",
    preset: "public_chat",
    creation_content: { type: "m.space" },
  });
  rooms.deep = await create(alice.accessToken, { name: "Deep", preset: "public_chat" });
  rooms.restricted = await create(alice.accessToken, {
    name: "Restricted",
    preset: "private_chat",
    initial_state: [
      {
        type: "m.room.join_rules",
        state_key: "",
        content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: space }] },
      },
    ],
  });
  await link(space, rooms.public!, { via: ["localhost"], order: "b", suggested: true });
  await link(space, rooms.private!, { via: ["localhost"], order: "a" });
  await link(space, rooms.readable!, { via: ["localhost"] });
  await link(space, rooms.sub!, { via: ["localhost"], order: "c" });
  await link(space, rooms.restricted!, { via: ["localhost"], order: "d" });
  await link(space, "!gone:localhost", { via: [] });
  await link(rooms.sub!, rooms.deep!, { via: ["localhost"] });
});
afterAll(async () => {
  await server?.close();
});

describe("space hierarchy", () => {
  it("walks the space breadth-first in the spec's order, with children_state", async () => {
    const r = await hierarchy(alice.accessToken, space);
    expect(r.status).toBe(200);
    expect(ids(r.body)).toEqual([
      space,
      rooms.private,
      rooms.public,
      rooms.sub,
      rooms.restricted,
      rooms.readable,
      rooms.deep,
    ]);
    const root = (r.body.rooms as Record<string, unknown>[])[0]!;
    expect(root).toMatchObject({
      name: "Space",
      room_type: "m.space",
      join_rule: "public",
      num_joined_members: 1,
    });
    const children = root.children_state as { state_key: string; type: string; content: { via: string[] } }[];
    // A link without via does not count.
    expect(children.map((c) => c.state_key)).not.toContain("!gone:localhost");
    expect(children.every((c) => c.type === "m.space.child" && c.content.via.length > 0)).toBe(true);
  });

  it("shows another user only what they may see", async () => {
    await server.call("POST", `/_matrix/client/v3/join/${space}`, { token: bob.accessToken, body: {} });
    const r = await hierarchy(bob.accessToken, space);
    // private: invite-only and bob is no member; restricted: bob is in the space it allows.
    expect(ids(r.body)).toEqual([
      space,
      rooms.public,
      rooms.sub,
      rooms.restricted,
      rooms.readable,
      rooms.deep,
    ]);
    const outsider = await server.register();
    expect(ids((await hierarchy(outsider.accessToken, space)).body)).not.toContain(rooms.restricted);
    const denied = await hierarchy(outsider.accessToken, rooms.private!);
    expect(denied.status).toBe(403);
    expect(denied.body.errcode).toBe("M_FORBIDDEN");
  });

  it("honours max_depth and suggested_only", async () => {
    expect(ids((await hierarchy(alice.accessToken, space, "?max_depth=0")).body)).toEqual([space]);
    expect(ids((await hierarchy(alice.accessToken, space, "?max_depth=1")).body)).not.toContain(rooms.deep);
    expect(ids((await hierarchy(alice.accessToken, space, "?suggested_only=true")).body)).toEqual([
      space,
      rooms.public,
    ]);
  });

  it("pages with next_batch, and refuses a token bound to other parameters", async () => {
    const first = await hierarchy(alice.accessToken, space, "?limit=3");
    expect(ids(first.body)).toHaveLength(3);
    const token = first.body.next_batch as string;
    const second = await hierarchy(alice.accessToken, space, `?limit=3&from=${token}`);
    const third = await hierarchy(
      alice.accessToken,
      space,
      `?limit=3&from=${second.body.next_batch as string}`,
    );
    expect([...ids(first.body), ...ids(second.body), ...ids(third.body)]).toEqual(
      ids((await hierarchy(alice.accessToken, space)).body),
    );
    expect(third.body.next_batch).toBeUndefined();
    const mismatched = await hierarchy(alice.accessToken, space, `?suggested_only=true&from=${token}`);
    expect(mismatched.status).toBe(400);
    expect((await hierarchy(alice.accessToken, space, "?from=junk")).status).toBe(400);
    expect((await hierarchy(alice.accessToken, space, "?limit=-1")).status).toBe(400);
    expect((await hierarchy(alice.accessToken, "not-a-room")).status).toBe(400);
  });
});
