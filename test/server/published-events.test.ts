import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESSAGING_EVENTS } from "../../server/events.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Row = { event_type: string; aggregate_id: string; payload: Record<string, unknown> };

/** What the homeserver publishes through its outbox (server/events.ts), read back from the outbox. */
describe("messaging outbox", () => {
  let s: TestServer;
  let alice: { userId: string; accessToken: string };
  let bob: { userId: string; accessToken: string };
  let roomId: string;

  const published = async (type: string): Promise<Row[]> => {
    const db = s.ctx.databases.get<unknown>("messaging").db;
    const r = await sql<Row>`SELECT event_type, aggregate_id, payload FROM outbox_events
      WHERE event_type = ${type} ORDER BY seq`.execute(db);
    for (const row of r.rows) {
      // Every payload is one its consumers accept.
      MESSAGING_EVENTS[row.event_type as keyof typeof MESSAGING_EVENTS].parse(row.payload);
    }
    return r.rows;
  };
  const stored = async (eventId: string) =>
    (await published("room.event_stored")).find((r) => r.payload.event_id === eventId);
  const send = async (token: string, type: string, content: Record<string, unknown>) => {
    const r = await s.call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/${type}/t${Math.random()}`, {
      token,
      body: content,
    });
    expect(r.status).toBe(200);
    return r.body.event_id as string;
  };

  beforeAll(async () => {
    s = await startTestServer();
    alice = await s.register("alice");
    bob = await s.register("bob");
    const r = await s.call("POST", "/_matrix/client/v3/createRoom", {
      token: alice.accessToken,
      body: { name: "Plans", invite: [bob.userId] },
    });
    roomId = r.body.room_id as string;
    await s.call("POST", `/_matrix/client/v3/join/${roomId}`, { token: bob.accessToken, body: {} });
  });
  afterAll(() => s.close());

  it("publishes a message with the push verdict of each other member, keyed by room", async () => {
    const id = await send(bob.accessToken, "m.room.message", { msgtype: "m.text", body: "hi" });
    const row = await stored(id);
    expect(row?.aggregate_id).toBe(roomId);
    expect(row?.payload).toMatchObject({
      room_id: roomId,
      sender: bob.userId,
      type: "m.room.message",
      content: { body: "hi" },
      room_name: "Plans",
      member_count: 2,
      recipients: [{ user_id: alice.userId, highlight: false }],
    });
    const actions = (row!.payload.recipients as { actions: unknown[] }[])[0]!.actions;
    expect(actions).toContain("notify");
  });

  it("marks a mention as highlight and never lists the sender", async () => {
    const id = await send(bob.accessToken, "m.room.message", {
      msgtype: "m.text",
      body: "alice: look",
      "m.mentions": { user_ids: [alice.userId] },
    });
    const recipients = (await stored(id))?.payload.recipients as { user_id: string; highlight: boolean }[];
    expect(recipients).toEqual([expect.objectContaining({ user_id: alice.userId, highlight: true })]);
  });

  it("publishes an encrypted event with its ciphertext only", async () => {
    const id = await send(bob.accessToken, "m.room.encrypted", {
      algorithm: "m.megolm.v1.aes-sha2",
      ciphertext: "AwgAEnAC",
      sender_key: "k",
      session_id: "s",
      device_id: "D",
    });
    const row = await stored(id);
    expect(row?.payload.content).toEqual(expect.objectContaining({ ciphertext: "AwgAEnAC" }));
    expect(JSON.stringify(row?.payload)).not.toContain('"body"');
  });

  it("lists the invitee of an invite, and publishes membership changes", async () => {
    const carol = await s.register("carol");
    const r = await s.call("POST", `/_matrix/client/v3/rooms/${roomId}/invite`, {
      token: alice.accessToken,
      body: { user_id: carol.userId },
    });
    expect(r.status).toBe(200);
    const invites = (await published("room.event_stored")).filter(
      (x) => x.payload.type === "m.room.member" && x.payload.state_key === carol.userId,
    );
    const users = (invites[0]!.payload.recipients as { user_id: string }[]).map((x) => x.user_id);
    expect(users).toContain(carol.userId);
    const changes = (await published("room.membership_changed")).filter(
      (x) => x.payload.user_id === carol.userId,
    );
    expect(changes.map((c) => c.payload.membership)).toEqual(["invite"]);
  });

  it("leaves out recipients who ignore the sender", async () => {
    await s.call("PUT", `/_matrix/client/v3/user/${alice.userId}/account_data/m.ignored_user_list`, {
      token: alice.accessToken,
      body: { ignored_users: { [bob.userId]: {} } },
    });
    const id = await send(bob.accessToken, "m.room.message", { msgtype: "m.text", body: "ignored" });
    expect((await stored(id))?.payload.recipients).toEqual([]);
    await s.call("PUT", `/_matrix/client/v3/user/${alice.userId}/account_data/m.ignored_user_list`, {
      token: alice.accessToken,
      body: { ignored_users: {} },
    });
  });

  it("publishes a read receipt with the receipted event's stream position", async () => {
    const id = await send(bob.accessToken, "m.room.message", { msgtype: "m.text", body: "read me" });
    const r = await s.call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.read/${id}`, {
      token: alice.accessToken,
      body: {},
    });
    expect(r.status).toBe(200);
    const receipts = (await published("room.receipt_moved")).filter((x) => x.payload.event_id === id);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]!.payload).toMatchObject({
      user_id: alice.userId,
      receipt_type: "m.read",
      thread_id: "",
      stream_position: (await stored(id))?.payload.stream_position,
    });
  });
});
