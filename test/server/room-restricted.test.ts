import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeEvent } from "../../server/rooms/auth-rules.ts";
import type { Pdu } from "../../server/rooms/events.ts";
import { stateOf, testPdu } from "../helpers/pdus.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** Restricted joins (spec room versions 8+/10): `allow` with m.room_membership, join_authorised_via_users_server. */
describe("restricted joins", () => {
  let s: TestServer;
  let admin: { userId: string; accessToken: string };
  let space: string;

  const C = "/_matrix/client/v3";
  const create = async (token: string, body: Record<string, unknown>) => {
    const r = await s.call("POST", `${C}/createRoom`, { token, body });
    expect(r.status).toBe(200);
    return r.body.room_id as string;
  };
  const restricted = (token: string, rule: string, allowed: string, extra: Record<string, unknown> = {}) =>
    create(token, {
      preset: "private_chat",
      initial_state: [
        {
          type: "m.room.join_rules",
          state_key: "",
          content: { join_rule: rule, allow: [{ type: "m.room_membership", room_id: allowed }] },
        },
      ],
      ...extra,
    });
  const join = (token: string, roomId: string, body: Record<string, unknown> = {}) =>
    s.call("POST", `${C}/join/${encodeURIComponent(roomId)}`, { token, body });
  const memberEvent = async (roomId: string, userId: string) => {
    const r = await s.call(
      "GET",
      `${C}/rooms/${roomId}/state/m.room.member/${encodeURIComponent(userId)}?format=event`,
      { token: admin.accessToken },
    );
    return r.status === 200 ? r.body : null;
  };

  beforeAll(async () => {
    s = await startTestServer();
    admin = await s.register();
    space = await create(admin.accessToken, { preset: "public_chat", creation_content: { type: "m.space" } });
  });
  afterAll(async () => {
    await s.close();
  });

  it("a member of an allowed room joins; the join names a local member who can invite", async () => {
    const roomId = await restricted(admin.accessToken, "restricted", space);
    const bob = await s.register();
    expect((await join(bob.accessToken, space)).status).toBe(200);
    const r = await join(bob.accessToken, roomId);
    expect(r.status).toBe(200);
    const ev = await memberEvent(roomId, bob.userId);
    expect(ev?.content).toMatchObject({ membership: "join", join_authorised_via_users_server: admin.userId });
  });

  it("refuses someone in none of the allowed rooms with 403", async () => {
    const roomId = await restricted(admin.accessToken, "restricted", space);
    const carol = await s.register();
    const r = await join(carol.accessToken, roomId);
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe("M_FORBIDDEN");
    expect(await memberEvent(roomId, carol.userId)).toBeNull();
  });

  it("an invitee joins without an authoriser; a client's own join_authorised_via_users_server is dropped", async () => {
    const roomId = await restricted(admin.accessToken, "restricted", space);
    const dave = await s.register();
    await s.call("POST", `${C}/rooms/${roomId}/invite`, {
      token: admin.accessToken,
      body: { user_id: dave.userId },
    });
    const r = await join(dave.accessToken, roomId, { join_authorised_via_users_server: admin.userId });
    expect(r.status).toBe(200);
    const ev = await memberEvent(roomId, dave.userId);
    expect(ev?.content).toMatchObject({ membership: "join" });
    expect(ev?.content).not.toHaveProperty("join_authorised_via_users_server");
  });

  it("refuses the join when no local member can invite (400 M_UNABLE_TO_GRANT_JOIN, as Synapse)", async () => {
    // Invites need 100 and nobody has it: the creator lowers itself after creating the room.
    const roomId = await restricted(admin.accessToken, "restricted", space, {
      power_level_content_override: { invite: 100, users: { [admin.userId]: 100 } },
    });
    const pl = await s.call("PUT", `${C}/rooms/${roomId}/state/m.room.power_levels`, {
      token: admin.accessToken,
      body: { invite: 100, users: { [admin.userId]: 50 } },
    });
    expect(pl.status).toBe(200);
    const erin = await s.register();
    expect((await join(erin.accessToken, space)).status).toBe(200);
    const r = await join(erin.accessToken, roomId);
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe("M_UNABLE_TO_GRANT_JOIN");
    expect(await memberEvent(roomId, erin.userId)).toBeNull();
  });

  it("knock_restricted: members of an allowed room join, others may knock", async () => {
    const roomId = await restricted(admin.accessToken, "knock_restricted", space);
    const frank = await s.register();
    expect((await join(frank.accessToken, space)).status).toBe(200);
    expect((await join(frank.accessToken, roomId)).status).toBe(200);
    const gina = await s.register();
    expect((await join(gina.accessToken, roomId)).status).toBe(403);
    const k = await s.call("POST", `${C}/knock/${roomId}`, { token: gina.accessToken, body: {} });
    expect(k.status).toBe(200);
    expect((await memberEvent(roomId, gina.userId))?.content).toMatchObject({ membership: "knock" });
  });

  it("leaving the allowed room takes the right away (for the next join)", async () => {
    const roomId = await restricted(admin.accessToken, "restricted", space);
    const hank = await s.register();
    expect((await join(hank.accessToken, space)).status).toBe(200);
    expect((await join(hank.accessToken, roomId)).status).toBe(200);
    await s.call("POST", `${C}/rooms/${roomId}/leave`, { token: hank.accessToken, body: {} });
    await s.call("POST", `${C}/rooms/${space}/leave`, { token: hank.accessToken, body: {} });
    expect((await join(hank.accessToken, roomId)).status).toBe(403);
  });
});

describe("restricted join auth rule", () => {
  const ev = testPdu;
  const member = (user: string, membership: string) =>
    ev({ type: "m.room.member", sender: user, state_key: user, content: { membership } });
  const events = [
    ev({ type: "m.room.create", sender: "@c:d", state_key: "", content: { creator: "@c:d" } }),
    member("@c:d", "join"),
    ev({
      type: "m.room.power_levels",
      sender: "@c:d",
      state_key: "",
      content: { users: { "@c:d": 100, "@low:d": 10 }, invite: 50 },
    }),
    ev({
      type: "m.room.join_rules",
      sender: "@c:d",
      state_key: "",
      content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: "!space:d" }] },
    }),
    member("@low:d", "join"),
    member("@gone:d", "leave"),
  ];
  const state = stateOf(events);
  const joinVia = (via?: string) =>
    ev({
      type: "m.room.member",
      sender: "@x:d",
      state_key: "@x:d",
      content: via ? { membership: "join", join_authorised_via_users_server: via } : { membership: "join" },
    });
  const refusal = (e: Pdu) => {
    try {
      authorizeEvent(e, state, "10");
      return null;
    } catch (err) {
      return err as { status: number; errcode: string };
    }
  };

  it("allows a join authorised by a joined member with the power to invite", () => {
    expect(refusal(joinVia("@c:d"))).toBeNull();
  });

  it("refuses a join without an authoriser, or by one who cannot invite or is not joined (403)", () => {
    for (const via of [undefined, "@low:d", "@gone:d", "@nobody:d"]) {
      expect(refusal(joinVia(via)), String(via)).toMatchObject({ status: 403, errcode: "M_FORBIDDEN" });
    }
  });
});
