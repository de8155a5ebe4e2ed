import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeEvent } from "../../server/rooms/auth-rules.ts";
import { canonicalJson } from "../../server/rooms/canonical-json.ts";
import type { Pdu } from "../../server/rooms/events.ts";
import { FakeIdentityServer } from "../helpers/identity-server.ts";
import { stateOf, testPdu } from "../helpers/pdus.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type User = { userId: string; deviceId: string; accessToken: string };
type Ev = { type: string; sender: string; state_key?: string; content: Record<string, unknown> };
const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

describe("third-party invites", () => {
  let s: TestServer;
  let is: FakeIdentityServer;
  let n = 0;

  const user = () => s.register();
  const email = () => `person${++n}@Example.org`;
  const createRoom = async (u: User, body: Record<string, unknown> = {}) => {
    const r = await s.call("POST", `${V3}/createRoom`, { token: u.accessToken, body });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id as string;
  };
  const act = (u: User, roomId: string, action: string, body: Record<string, unknown> = {}) =>
    s.call("POST", `${V3}/rooms/${enc(roomId)}/${action}`, { token: u.accessToken, body });
  const invite3pid = (u: User, roomId: string, address: string, extra: Record<string, unknown> = {}) =>
    act(u, roomId, "invite", {
      id_server: is.name,
      id_access_token: is.accessToken,
      medium: "email",
      address,
      ...extra,
    });
  const member = (u: User, roomId: string, target: string) =>
    s.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.member/${enc(target)}`, { token: u.accessToken });
  const state = async (u: User, roomId: string) => {
    const r = await s.call("GET", `${V3}/rooms/${enc(roomId)}/state`, { token: u.accessToken });
    return r.body as unknown as Ev[];
  };
  const thirdPartyInviteOf = async (u: User, roomId: string) => {
    const ev = (await state(u, roomId)).find((e) => e.type === "m.room.third_party_invite");
    expect(ev).toBeDefined();
    return ev!;
  };
  const join = (u: User, roomId: string, body: Record<string, unknown> = {}) =>
    s.call("POST", `${V3}/join/${enc(roomId)}`, { token: u.accessToken, body });
  const expectError = (
    r: { status: number; body: Record<string, unknown> },
    status: number,
    errcode: string,
  ) => expect([r.status, r.body.errcode], JSON.stringify(r.body)).toEqual([status, errcode]);

  beforeAll(async () => {
    is = new FakeIdentityServer();
    await is.start();
    s = await startTestServer({ NOVA_IDENTITY_SERVER_INSECURE: "1" });
  });
  afterAll(async () => {
    await s.close();
    await is.close();
  });

  it("invites the user a bound 3PID belongs to, asking the identity server with the Bearer token", async () => {
    const [alice, bob] = [await user(), await user()];
    const address = email();
    await is.bind("email", address.toLowerCase(), bob.userId);
    const roomId = await createRoom(alice);
    const before = is.requests.length;
    const r = await invite3pid(alice, roomId, address);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await member(alice, roomId, bob.userId)).body.membership).toBe("invite");
    const calls = is.requests.slice(before);
    expect(calls.map((c) => c.path)).toEqual([
      "/_matrix/identity/v2/hash_details",
      "/_matrix/identity/v2/lookup",
    ]);
    expect(calls.every((c) => c.authorization === `Bearer ${is.accessToken}`)).toBe(true);
    // Bound: no pending invite was recorded in the room.
    expect((await state(alice, roomId)).some((e) => e.type === "m.room.third_party_invite")).toBe(false);
  });

  it("invites a bound 3PID from createRoom's invite_3pid", async () => {
    const [alice, bob] = [await user(), await user()];
    const address = email();
    await is.bind("email", address.toLowerCase(), bob.userId);
    const roomId = await createRoom(alice, {
      invite_3pid: [{ id_server: is.name, id_access_token: is.accessToken, medium: "email", address }],
    });
    expect((await member(alice, roomId, bob.userId)).body.membership).toBe("invite");
  });

  it("records an unbound 3PID as m.room.third_party_invite; onbind turns it into an invite", async () => {
    const [alice, bob, carol] = [await user(), await user(), await user()];
    const roomId = await createRoom(alice);
    // Carol (power 0) may invite: m.room.third_party_invite needs the invite level, not state_default.
    expect((await act(alice, roomId, "invite", { user_id: carol.userId })).status).toBe(200);
    expect((await join(carol, roomId)).status).toBe(200);
    const address = email();
    const r = await invite3pid(carol, roomId, address);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const tpi = await thirdPartyInviteOf(alice, roomId);
    expect(tpi.sender).toBe(carol.userId);
    expect(tpi.content.display_name).toBe("Bob");
    expect(tpi.content.public_keys).toHaveLength(2);
    expect(tpi.content.key_validity_url).toBe(`https://${is.name}/_matrix/identity/v2/pubkey/isvalid`);
    expect(typeof tpi.content.public_key).toBe("string");

    expect(await is.bind("email", address.toLowerCase(), bob.userId, s.baseUrl)).toBe(200);
    const m = await member(alice, roomId, bob.userId);
    expect(m.body.membership).toBe("invite");
    expect((m.body.third_party_invite as Record<string, unknown>).display_name).toBe("Bob");
    const inviteEvent = (await state(alice, roomId)).find((e) => e.state_key === bob.userId)!;
    expect(inviteEvent.sender).toBe(carol.userId);
    // Bob's sync shows the invite, with the inviter's member event in the stripped state.
    const sync = await s.call("GET", `${V3}/sync`, { token: bob.accessToken });
    const rooms = sync.body.rooms as { invite: Record<string, { invite_state: { events: Ev[] } }> };
    const members = rooms.invite[roomId]!.invite_state.events.filter((e) => e.type === "m.room.member");
    expect(members.map((e) => e.state_key).sort()).toEqual([bob.userId, carol.userId].sort());
    expect((await join(bob, roomId)).status).toBe(200);
    expect((await member(alice, roomId, bob.userId)).body.membership).toBe("join");
  });

  it("accepts the invite after the inviter has left", async () => {
    const [alice, other, bob] = [await user(), await user(), await user()];
    const roomId = await createRoom(alice);
    await act(alice, roomId, "invite", { user_id: other.userId });
    await join(other, roomId);
    const address = email();
    expect((await invite3pid(alice, roomId, address)).status).toBe(200);
    expect((await act(alice, roomId, "leave")).status).toBe(200);
    expect(await is.bind("email", address.toLowerCase(), bob.userId, s.baseUrl)).toBe(200);
    expect((await join(bob, roomId)).status).toBe(200);
    expect((await member(other, roomId, bob.userId)).body.membership).toBe("join");
  });

  it("joins with third_party_signed signed by the identity server", async () => {
    const [alice, bob] = [await user(), await user()];
    const roomId = await createRoom(alice);
    expect((await invite3pid(alice, roomId, email())).status).toBe(200);
    const token = (await thirdPartyInviteOf(alice, roomId)).state_key!;
    const signed = is.sign({ mxid: bob.userId, sender: alice.userId, token }, { ephemeral: true });
    const r = await join(bob, roomId, { third_party_signed: signed });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const m = await member(alice, roomId, bob.userId);
    expect(m.body.membership).toBe("join");
  });

  it("refuses a join whose signature does not verify, or for another user, or with a revoked key", async () => {
    const [alice, bob, eve] = [await user(), await user(), await user()];
    const roomId = await createRoom(alice);
    expect((await invite3pid(alice, roomId, email())).status).toBe(200);
    const token = (await thirdPartyInviteOf(alice, roomId)).state_key!;
    const signed = is.sign({ mxid: bob.userId, sender: alice.userId, token });

    const tampered = { ...signed, token: `${token}x` };
    expectError(await join(bob, roomId, { third_party_signed: tampered }), 403, "M_FORBIDDEN");
    const forged = { ...signed, mxid: eve.userId };
    expectError(await join(eve, roomId, { third_party_signed: forged }), 403, "M_FORBIDDEN");
    is.revoked = true;
    try {
      expectError(await join(bob, roomId, { third_party_signed: signed }), 403, "M_FORBIDDEN");
    } finally {
      is.revoked = false;
    }
    expect((await member(alice, roomId, bob.userId)).status).toBe(404);
    // Bob's signed invite presented by Eve invites Bob, whom it names; Eve is still refused.
    expectError(await join(eve, roomId, { third_party_signed: signed }), 403, "M_FORBIDDEN");
    expect((await member(alice, roomId, eve.userId)).status).toBe(404);
    expect((await member(alice, roomId, bob.userId)).body.membership).toBe("invite");
  });

  it("refuses onbind invites signed with keys the room does not know", async () => {
    const [alice, bob] = [await user(), await user()];
    const roomId = await createRoom(alice);
    const address = email();
    expect((await invite3pid(alice, roomId, address)).status).toBe(200);
    // The identity server's keys change after the invite: its signatures no longer match the room's.
    is.rotateKeys();
    expect(await is.bind("email", address.toLowerCase(), bob.userId, s.baseUrl)).toBe(403);
    expect((await member(alice, roomId, bob.userId)).status).toBe(404);
  });

  it("needs invite power, a valid 3PID, both id_server and id_access_token, a reachable server", async () => {
    const [alice, bob] = [await user(), await user()];
    const roomId = await createRoom(alice);
    await act(alice, roomId, "invite", { user_id: bob.userId });
    await join(bob, roomId);
    const pl = await s.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels/`, {
      token: alice.accessToken,
    });
    const raised = { ...pl.body, invite: 50 };
    await s.call("PUT", `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels/`, {
      token: alice.accessToken,
      body: raised,
    });
    const before = is.requests.length;
    expectError(await invite3pid(bob, roomId, email()), 403, "M_FORBIDDEN");
    // Refused before the identity server heard of it.
    expect(is.requests.length).toBe(before);

    expectError(await invite3pid(alice, roomId, "not-an-email"), 400, "M_INVALID_PARAM");
    expectError(
      await invite3pid(alice, roomId, email(), { medium: "carrier-pigeon" }),
      400,
      "M_INVALID_PARAM",
    );
    expectError(
      await invite3pid(alice, roomId, email(), { id_server: "https://x/y" }),
      400,
      "M_INVALID_PARAM",
    );
    expectError(
      await act(alice, roomId, "invite", { medium: "email", address: email(), id_server: is.name }),
      400,
      "M_MISSING_PARAM",
    );
    expectError(await invite3pid(alice, roomId, email(), { id_access_token: "wrong" }), 403, "M_FORBIDDEN");

    const down = new FakeIdentityServer();
    await down.start();
    const name = down.name;
    await down.close();
    expectError(await invite3pid(alice, roomId, email(), { id_server: name }), 502, "M_UNKNOWN");
  });
});

describe("third-party invite auth rules", () => {
  const ev = testPdu;
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pub = publicKey
    .export({ format: "der", type: "spki" })
    .subarray(-32)
    .toString("base64")
    .replace(/=+$/, "");
  const signAs = (obj: Record<string, unknown>, key: KeyObject = privateKey) => ({
    ...obj,
    signatures: {
      "is.example": { "ed25519:0": sign(null, Buffer.from(canonicalJson(obj)), key).toString("base64") },
    },
  });
  const member = (user: string, membership: string) =>
    ev({ type: "m.room.member", sender: user, state_key: user, content: { membership } });
  const base = [
    ev({ type: "m.room.create", sender: "@c:d", state_key: "", content: { creator: "@c:d" } }),
    member("@c:d", "join"),
    ev({
      type: "m.room.power_levels",
      sender: "@c:d",
      state_key: "",
      content: { users: { "@c:d": 100 }, invite: 50 },
    }),
    ev({ type: "m.room.join_rules", sender: "@c:d", state_key: "", content: { join_rule: "invite" } }),
    member("@u:d", "join"),
    // @c:d invited a 3PID, then left: the signed invite still stands.
    ev({
      type: "m.room.third_party_invite",
      sender: "@c:d",
      state_key: "tok",
      content: { display_name: "B", public_keys: [{ public_key: pub }] },
    }),
  ];
  const invite = (signed: Record<string, unknown>, target = "@b:d", sender = "@c:d") =>
    ev({
      type: "m.room.member",
      sender,
      state_key: target,
      content: { membership: "invite", third_party_invite: { signed } },
    });
  const refusal = (e: Pdu, extra: Pdu[] = []) => {
    try {
      authorizeEvent(e, stateOf([...base, member("@c:d", "leave"), ...extra]), "10");
      return null;
    } catch (err) {
      return (err as { errcode: string }).errcode;
    }
  };

  it("allows an invite signed with a key of the m.room.third_party_invite, after its sender left", () => {
    expect(refusal(invite(signAs({ mxid: "@b:d", token: "tok" })))).toBeNull();
  });

  it("refuses a wrong signature, another mxid, an unknown token, another sender, a banned invitee", () => {
    const { privateKey: other } = generateKeyPairSync("ed25519");
    expect(refusal(invite(signAs({ mxid: "@b:d", token: "tok" }, other)))).toBe("M_FORBIDDEN");
    expect(refusal(invite(signAs({ mxid: "@e:d", token: "tok" })))).toBe("M_FORBIDDEN");
    expect(refusal(invite(signAs({ mxid: "@b:d", token: "nope" })))).toBe("M_FORBIDDEN");
    expect(refusal(invite(signAs({ mxid: "@b:d", token: "tok" }), "@b:d", "@u:d"))).toBe("M_FORBIDDEN");
    expect(refusal(invite({ mxid: "@b:d", token: "tok" }))).toBe("M_FORBIDDEN");
    const banned = ev({
      type: "m.room.member",
      sender: "@c:d",
      state_key: "@b:d",
      content: { membership: "ban" },
    });
    expect(refusal(invite(signAs({ mxid: "@b:d", token: "tok" })), [banned])).toBe("M_FORBIDDEN");
  });

  it("needs the invite level (not state_default) and a joined sender for m.room.third_party_invite", () => {
    const tpi = (sender: string) =>
      ev({ type: "m.room.third_party_invite", sender, state_key: "t2", content: { public_key: pub } });
    const atInvite = ev({
      type: "m.room.power_levels",
      sender: "@c:d",
      state_key: "",
      content: { users: { "@c:d": 100, "@u:d": 50 }, invite: 50, state_default: 100 },
    });
    expect(refusal(tpi("@u:d"))).toBe("M_FORBIDDEN");
    expect(refusal(tpi("@u:d"), [atInvite])).toBeNull();
    expect(refusal(tpi("@x:d"), [atInvite])).toBe("M_FORBIDDEN");
  });
});
