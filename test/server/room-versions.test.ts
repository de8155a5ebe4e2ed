import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeEvent } from "../../server/rooms/auth-rules.ts";
import type { Pdu } from "../../server/rooms/events.ts";
import { SUPPORTED_ROOM_VERSIONS } from "../../server/rooms/room-versions.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type User = { userId: string; deviceId: string; accessToken: string };
type Ev = {
  type: string;
  event_id: string;
  sender: string;
  state_key?: string;
  redacts?: string;
  content: Record<string, unknown>;
  unsigned?: Record<string, unknown>;
};
const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

/** The event id shape of each room version (spec "Event IDs" of v1, v3 and v4). */
function idPattern(version: string): RegExp {
  const n = Number(version);
  if (n <= 2) return /^\$[A-Za-z]{18}:localhost$/;
  if (n === 3) return /^\$[A-Za-z0-9+/]{43}$/;
  return /^\$[A-Za-z0-9_-]{43}$/;
}

describe("room versions 1–11", () => {
  let s: TestServer;
  let alice: User;
  let bob: User;
  let txn = 0;

  const call = (u: User, method: string, path: string, body?: unknown) =>
    s.call(method, `${V3}${path}`, { token: u.accessToken, body });
  const send = (u: User, roomId: string, content: Record<string, unknown>, type = "m.room.message") =>
    call(u, "PUT", `/rooms/${enc(roomId)}/send/${type}/t${++txn}`, content);
  const putState = (u: User, roomId: string, type: string, key: string, content: Record<string, unknown>) =>
    call(u, "PUT", `/rooms/${enc(roomId)}/state/${type}/${enc(key)}`, content);
  const createRoom = async (u: User, body: Record<string, unknown>) => {
    const r = await call(u, "POST", "/createRoom", body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id as string;
  };
  const expectStatus = (
    r: { status: number; body: Record<string, unknown> },
    status: number,
    errcode?: string,
  ) => expect([r.status, r.body.errcode], JSON.stringify(r.body)).toEqual([status, errcode]);

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
  });
  afterAll(async () => {
    await s.close();
  });

  it("lists every version as stable in /capabilities, 10 the default", async () => {
    const r = await call(alice, "GET", "/capabilities");
    expect(r.body.capabilities).toMatchObject({
      "m.room_versions": {
        default: "10",
        available: Object.fromEntries(SUPPORTED_ROOM_VERSIONS.map((v) => [v, "stable"])),
      },
    });
    expect(
      Object.keys(
        (r.body.capabilities as Record<string, { available: object }>)["m.room_versions"]!.available,
      ),
    ).toHaveLength(11);
  });

  for (const version of SUPPORTED_ROOM_VERSIONS) {
    it(`v${version}: create, join, send, state, redact; ids round-trip through /event, /messages, /context, /sync`, async () => {
      const roomId = await createRoom(alice, { room_version: version, preset: "public_chat" });
      const create = await call(alice, "GET", `/rooms/${enc(roomId)}/state/m.room.create`);
      expect(create.body).toEqual(
        version === "11" ? { room_version: "11" } : { room_version: version, creator: alice.userId },
      );
      expectStatus(await call(bob, "POST", `/join/${enc(roomId)}`, {}), 200);
      const topic = await putState(alice, roomId, "m.room.topic", "", { topic: `v${version}` });
      expectStatus(topic, 200);
      expect(topic.body.event_id).toMatch(idPattern(version));

      // Enough messages that a v3 id holds a '/' or '+' (each id has ~75% odds), which must be
      // escaped in the URL and decoded by the router.
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await send(bob, roomId, { msgtype: "m.text", body: `m${i}` });
        expectStatus(r, 200);
        ids.push(r.body.event_id as string);
      }
      for (const id of ids) expect(id).toMatch(idPattern(version));
      const target = version === "3" ? ids.find((id) => /[/+]/.test(id)) : ids[5];
      expect(target).toBeDefined();

      const ev = await call(alice, "GET", `/rooms/${enc(roomId)}/event/${enc(target!)}`);
      expectStatus(ev, 200);
      expect(ev.body.event_id).toBe(target);
      const ctx = await call(alice, "GET", `/rooms/${enc(roomId)}/context/${enc(target!)}?limit=2`);
      expectStatus(ctx, 200);
      expect((ctx.body.event as Ev).event_id).toBe(target);

      expectStatus(await call(bob, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(target!)}`, {}), 200);

      const red = await call(bob, "PUT", `/rooms/${enc(roomId)}/redact/${enc(target!)}/r${++txn}`, {
        reason: "typo",
      });
      expectStatus(red, 200);
      const redactionId = red.body.event_id as string;
      expect(redactionId).toMatch(idPattern(version));
      const redacted = (await call(alice, "GET", `/rooms/${enc(roomId)}/event/${enc(target!)}`)).body as Ev;
      expect(redacted.content).toEqual({});
      expect((redacted.unsigned!.redacted_because as Ev).event_id).toBe(redactionId);
      const redaction = (await call(alice, "GET", `/rooms/${enc(roomId)}/event/${enc(redactionId)}`))
        .body as Ev;
      expect(redaction.redacts).toBe(target);
      expect(redaction.content).toEqual(
        version === "11" ? { reason: "typo", redacts: target } : { reason: "typo" },
      );

      const msgs = await call(alice, "GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=30`);
      expectStatus(msgs, 200);
      const chunk = msgs.body.chunk as Ev[];
      expect(chunk[0]!.event_id).toBe(redactionId);
      expect(chunk.map((e) => e.event_id)).toEqual(expect.arrayContaining([...ids, topic.body.event_id]));
      expect(chunk.at(-1)!.type).toBe("m.room.create");

      const sync = await call(
        alice,
        "GET",
        `/sync?timeout=0&filter=${enc(JSON.stringify({ room: { timeline: { limit: 50 } } }))}`,
      );
      expectStatus(sync, 200);
      const room = (
        sync.body.rooms as {
          join: Record<string, { timeline: { events: Ev[] }; ephemeral: { events: Ev[] } }>;
        }
      ).join[roomId]!;
      const receipts = room.ephemeral.events.find((e) => e.type === "m.receipt");
      expect(Object.keys(receipts!.content)).toContain(target);
      const timeline = room.timeline.events;
      expect(timeline[0]).toMatchObject({ type: "m.room.create", content: { room_version: version } });
      expect(timeline.map((e) => e.event_id)).toEqual(expect.arrayContaining([...ids, redactionId]));
      const members = await call(alice, "GET", `/rooms/${enc(roomId)}/joined_members`);
      expect(Object.keys(members.body.joined as object).sort()).toEqual([alice.userId, bob.userId].sort());
    });
  }

  it("invites and joins an invite-only room in every version", async () => {
    for (const version of SUPPORTED_ROOM_VERSIONS) {
      const roomId = await createRoom(alice, { room_version: version, preset: "private_chat" });
      expectStatus(await call(bob, "POST", `/join/${enc(roomId)}`, {}), 403, "M_FORBIDDEN");
      expectStatus(await call(alice, "POST", `/rooms/${enc(roomId)}/invite`, { user_id: bob.userId }), 200);
      expectStatus(await call(bob, "POST", `/join/${enc(roomId)}`, {}), 200);
    }
  });

  it("refuses floats and out-of-range integers from v6 (canonical JSON), takes them before", async () => {
    const v6 = await createRoom(alice, { room_version: "6" });
    expectStatus(await send(alice, v6, { body: 1.1 }, "sytest.dummy"), 400, "M_BAD_JSON");
    expectStatus(await send(alice, v6, { body: 2 ** 53 }, "sytest.dummy"), 400, "M_BAD_JSON");
    expectStatus(await send(alice, v6, { body: -(2 ** 53) }, "sytest.dummy"), 400, "M_BAD_JSON");
    expectStatus(await send(alice, v6, { body: 2 ** 53 - 1 }, "sytest.dummy"), 200);
    const raw = await s.call("PUT", `${V3}/rooms/${enc(v6)}/send/sytest.dummy/nan${++txn}`, {
      token: alice.accessToken,
      raw: '{"body": NaN}',
    });
    expect(raw.status).toBe(400);

    const v5 = await createRoom(alice, { room_version: "5" });
    const sent = await send(alice, v5, { body: 1.5, n: 2 ** 53 }, "sytest.dummy");
    expectStatus(sent, 200);
    const ev = await call(alice, "GET", `/rooms/${enc(v5)}/event/${enc(sent.body.event_id as string)}`);
    expect(ev.body.content).toEqual({ body: 1.5, n: 2 ** 53 });
  });

  it("accepts string power levels before v10 and refuses them from v10", async () => {
    for (const version of ["9", "10"] as const) {
      const roomId = await createRoom(alice, { room_version: version, preset: "public_chat" });
      expectStatus(await call(bob, "POST", `/join/${enc(roomId)}`, {}), 200);
      const pl = (await call(alice, "GET", `/rooms/${enc(roomId)}/state/m.room.power_levels`)).body;
      const r = await putState(alice, roomId, "m.room.power_levels", "", {
        ...pl,
        users: { ...(pl.users as object), [bob.userId]: "50" },
      });
      if (version === "10") {
        expectStatus(r, 403, "M_FORBIDDEN");
        continue;
      }
      expectStatus(r, 200);
      // "50" counts as 50: bob may now send state at state_default 50.
      expectStatus(await putState(bob, roomId, "m.room.topic", "", { topic: "by bob" }), 200);
    }
  });

  it("checks notifications power levels from v6 only", async () => {
    for (const version of ["5", "6"] as const) {
      const roomId = await createRoom(alice, {
        room_version: version,
        preset: "public_chat",
        power_level_content_override: { events: { "m.room.power_levels": 50 } },
      });
      expectStatus(await call(bob, "POST", `/join/${enc(roomId)}`, {}), 200);
      const pl = (await call(alice, "GET", `/rooms/${enc(roomId)}/state/m.room.power_levels`)).body;
      const users = { ...(pl.users as object), [bob.userId]: 50 };
      expectStatus(await putState(alice, roomId, "m.room.power_levels", "", { ...pl, users }), 200);
      const r = await putState(bob, roomId, "m.room.power_levels", "", {
        ...pl,
        users,
        notifications: { room: 100 },
      });
      if (version === "5") expectStatus(r, 200);
      else expectStatus(r, 403, "M_FORBIDDEN");
    }
  });

  it("authorises m.room.aliases by the sender's server before v6, by power level from v6", async () => {
    for (const version of ["5", "6"] as const) {
      const roomId = await createRoom(alice, { room_version: version, preset: "public_chat" });
      expectStatus(await call(bob, "POST", `/join/${enc(roomId)}`, {}), 200);
      const own = await putState(bob, roomId, "m.room.aliases", "localhost", { aliases: ["#a:localhost"] });
      if (version === "5") {
        expectStatus(own, 200);
        expectStatus(
          await putState(bob, roomId, "m.room.aliases", "other.example", { aliases: [] }),
          403,
          "M_FORBIDDEN",
        );
      } else {
        expectStatus(own, 403, "M_FORBIDDEN");
      }
    }
  });

  it("honours the restricted join rule from v8 only", async () => {
    for (const version of ["7", "8"] as const) {
      const roomId = await createRoom(alice, {
        room_version: version,
        preset: "private_chat",
        initial_state: [
          { type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [] } },
        ],
      });
      expectStatus(await call(alice, "POST", `/rooms/${enc(roomId)}/invite`, { user_id: bob.userId }), 200);
      // v7 does not know `restricted`: no one may join through it, not even an invited user.
      const join = await call(bob, "POST", `/join/${enc(roomId)}`, {});
      if (version === "7") expectStatus(join, 403, "M_FORBIDDEN");
      else expectStatus(join, 200);
    }
  });

  it("allows knocking from v7 only (auth rules)", async () => {
    const knockOn = async (version: string, joinRule: string) => {
      const roomId = await createRoom(alice, {
        room_version: version,
        initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: joinRule } }],
      });
      const snap = (await s.rooms.snapshot(roomId))!;
      const knock: Pdu = {
        room_id: roomId,
        sender: bob.userId,
        type: "m.room.member",
        state_key: bob.userId,
        content: { membership: "knock" },
        origin_server_ts: Date.now(),
        depth: snap.depth + 1,
        prev_events: [snap.lastEventId!],
        auth_events: [],
      };
      return () => authorizeEvent(knock, snap, snap.version);
    };
    expect(await knockOn("6", "knock")).toThrow(/does not support knocking/);
    expect(await knockOn("7", "knock")).not.toThrow();
    expect(await knockOn("9", "knock_restricted")).toThrow(/does not allow knocking/);
    expect(await knockOn("10", "knock_restricted")).not.toThrow();
  });
});

describe("NOVA_DEFAULT_ROOM_VERSION", () => {
  it("chooses the version of rooms created without room_version, and /capabilities says so", async () => {
    const s = await startTestServer({ NOVA_DEFAULT_ROOM_VERSION: "11" });
    try {
      const u = await s.register("dora");
      const caps = await s.call("GET", `${V3}/capabilities`, { token: u.accessToken });
      expect(caps.body.capabilities).toMatchObject({ "m.room_versions": { default: "11" } });
      const r = await s.call("POST", `${V3}/createRoom`, { token: u.accessToken, body: {} });
      const create = await s.call("GET", `${V3}/rooms/${enc(r.body.room_id as string)}/state/m.room.create`, {
        token: u.accessToken,
      });
      expect(create.body).toEqual({ room_version: "11" });
    } finally {
      await s.close();
    }
  });
});
