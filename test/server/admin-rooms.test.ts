import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAdminServer } from "../helpers/admin.ts";
import type { TestServer } from "../helpers/server.ts";

const A = "/_synapse/admin";
const C = "/_matrix/client/v3";
const enc = encodeURIComponent;

describe("admin API: rooms", () => {
  let s: TestServer;
  let admin: string;
  let adminId: string;

  beforeAll(async () => {
    ({ s, admin, adminId } = await startAdminServer());
  });
  afterAll(async () => {
    await s.close();
  });

  const call = (method: string, path: string, body?: unknown, token = admin) =>
    s.call(method, A + path, { token, body });
  const createRoom = async (token: string, body: Record<string, unknown>) =>
    (await s.call("POST", `${C}/createRoom`, { token, body })).body.room_id as string;
  const join = (token: string, roomId: string) =>
    s.call("POST", `${C}/rooms/${enc(roomId)}/join`, { token, body: {} });

  it("lists rooms with search, ordering and paging, and shows one room's details, members and state", async () => {
    const owner = await s.register("owner");
    const guest = await s.register("visitor");
    const big = await createRoom(owner.accessToken, {
      name: "Zeta lounge",
      preset: "public_chat",
      room_alias_name: "zeta",
    });
    const small = await createRoom(owner.accessToken, { name: "Alpha corner", preset: "private_chat" });
    await join(guest.accessToken, big);

    const byName = await call("GET", "/v1/rooms?order_by=name");
    const names = (byName.body.rooms as { name: string }[]).map((r) => r.name);
    expect(names.indexOf("Alpha corner")).toBeLessThan(names.indexOf("Zeta lounge"));
    expect(byName.body.total_rooms).toBe(2);
    expect(byName.body.offset).toBe(0);

    const bySize = await call("GET", "/v1/rooms?order_by=joined_members&limit=1");
    expect((bySize.body.rooms as { room_id: string }[])[0]!.room_id).toBe(big);
    expect(bySize.body.next_batch).toBe(1);
    const second = await call("GET", "/v1/rooms?order_by=joined_members&limit=1&from=1");
    expect((second.body.rooms as { room_id: string }[])[0]!.room_id).toBe(small);
    expect(second.body.prev_batch).toBe(0);

    const found = await call("GET", "/v1/rooms?search_term=zeta");
    expect(found.body.rooms).toEqual([
      expect.objectContaining({
        room_id: big,
        name: "Zeta lounge",
        canonical_alias: "#zeta:localhost",
        joined_members: 2,
        joined_local_members: 2,
        creator: owner.userId,
        join_rules: "public",
        federatable: true,
        public: false,
      }),
    ]);
    expect((await call("GET", "/v1/rooms?order_by=secret")).status).toBe(400);

    const details = await call("GET", `/v1/rooms/${enc(big)}`);
    expect(details.body).toMatchObject({
      room_id: big,
      name: "Zeta lounge",
      state_events: expect.any(Number),
    });
    const members = await call("GET", `/v1/rooms/${enc(big)}/members`);
    expect((members.body.members as string[]).sort()).toEqual([owner.userId, guest.userId].sort());
    expect(members.body.total).toBe(2);
    const state = await call("GET", `/v1/rooms/${enc(big)}/state`);
    const types = (state.body.state as { type: string }[]).map((e) => e.type);
    expect(types).toContain("m.room.create");
    expect(types).toContain("m.room.name");
    expect((await call("GET", `/v1/rooms/${enc("!nope:localhost")}`)).status).toBe(404);
    expect((await call("GET", "/v1/rooms", undefined, guest.accessToken)).status).toBe(403);
  });

  it("deletes a room: members leave, the alias goes, a block refuses rejoining, purge removes it", async () => {
    const owner = await s.register();
    const member = await s.register();
    const roomId = await createRoom(owner.accessToken, {
      name: "Bad place",
      preset: "public_chat",
      room_alias_name: "bad",
    });
    await join(member.accessToken, roomId);
    const r = await call("DELETE", `/v1/rooms/${enc(roomId)}`, {
      block: true,
      purge: true,
      new_room_user_id: adminId,
      message: "moved",
    });
    expect(r.status).toBe(200);
    expect((r.body.kicked_users as string[]).sort()).toEqual([owner.userId, member.userId].sort());
    expect(r.body.failed_to_kick_users).toEqual([]);
    expect(r.body.local_aliases).toEqual(["#bad:localhost"]);
    const newRoom = r.body.new_room_id as string;
    expect(await s.rooms.membership(newRoom, member.userId)).toBe("join");
    expect((await s.call("GET", `${C}/directory/room/${enc("#bad:localhost")}`)).status).toBe(404);
    expect((await call("GET", `/v1/rooms/${enc(roomId)}`)).status).toBe(404);
    const joined = await s.call("GET", `${C}/joined_rooms`, { token: member.accessToken });
    expect(joined.body.joined_rooms).toEqual([newRoom]);
    const rejoin = await join(member.accessToken, roomId);
    expect(rejoin.status).toBe(403);
    expect((await call("GET", `/v1/rooms/${enc(roomId)}/block`)).body).toEqual({
      block: true,
      user_id: adminId,
    });
  });

  it("v2 delete runs in the background and reports its status; without purge the room stays, empty", async () => {
    const owner = await s.register();
    const roomId = await createRoom(owner.accessToken, { preset: "public_chat" });
    const r = await call("DELETE", `/v2/rooms/${enc(roomId)}`, { purge: false });
    expect(r.status).toBe(200);
    const deleteId = r.body.delete_id as string;
    let status = "";
    for (let i = 0; i < 100 && status !== "complete"; i++) {
      status = (await call("GET", `/v2/rooms/delete_status/${deleteId}`)).body.status as string;
      if (status !== "complete") await new Promise((res) => setTimeout(res, 50));
    }
    expect(status).toBe("complete");
    const byRoom = await call("GET", `/v2/rooms/${enc(roomId)}/delete_status`);
    expect(byRoom.body.results).toEqual([
      expect.objectContaining({
        delete_id: deleteId,
        status: "complete",
        shutdown_room: expect.objectContaining({ kicked_users: [owner.userId] }),
      }),
    ]);
    expect((await call("GET", `/v1/rooms/${enc(roomId)}`)).body.joined_members).toBe(0);
    // Not blocked: the owner may come back.
    expect((await join(owner.accessToken, roomId)).status).toBe(200);
  });

  it("make_room_admin raises a user to the highest local level, inviting them to a private room", async () => {
    const owner = await s.register();
    const helper = await s.register();
    const roomId = await createRoom(owner.accessToken, { preset: "private_chat" });
    const r = await call("POST", `/v1/rooms/${enc(roomId)}/make_room_admin`, { user_id: helper.userId });
    expect(r.status).toBe(200);
    const pl = await s.rooms.getStateEvent(roomId, "m.room.power_levels", "");
    expect((pl!.users as Record<string, number>)[helper.userId]).toBe(100);
    expect(await s.rooms.membership(roomId, helper.userId)).toBe("invite");
    const empty = await createRoom(owner.accessToken, {});
    await s.call("POST", `${C}/rooms/${enc(empty)}/leave`, { token: owner.accessToken, body: {} });
    expect((await call("POST", `/v1/rooms/${enc(empty)}/make_room_admin`, {})).status).toBe(400);
  });
});
