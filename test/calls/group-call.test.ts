import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CALL_MEMBER_EVENT, memberStateKey } from "../../calls/call-service.ts";
import { CallsRepository, type CallTables } from "../../calls/calls.repository.ts";
import { CallClient, CallError, type CallEvent, httpRequester } from "../../calls/client.ts";
import { registry } from "../../companion-services/platform/metrics.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { callRoom, type TestUser } from "./helpers/call-setup.ts";
import { CountingSubscriber, SyntheticPublisher, waitFor } from "./helpers/werift-peer.ts";

/** A participant driven from Node: signaling client + werift peers + the events it saw. */
class NodeParticipant {
  readonly client: CallClient;
  readonly events: CallEvent[] = [];
  publisher?: SyntheticPublisher;
  subscriber?: CountingSubscriber;
  private running?: Promise<void>;

  constructor(
    server: TestServer,
    readonly user: TestUser,
  ) {
    this.client = new CallClient(httpRequester(server.baseUrl, user.accessToken), 1000);
  }

  startEvents(): void {
    this.running = this.client.run(async (ev) => {
      this.events.push(ev);
      if (ev.type === "renegotiate" && this.subscriber) await this.resubscribe();
    });
  }

  async publish(): Promise<void> {
    this.publisher = new SyntheticPublisher();
    await this.publisher.answer(await this.client.publish(await this.publisher.offer()));
    this.publisher.start(50, 600);
  }

  async resubscribe(): Promise<void> {
    this.subscriber ??= new CountingSubscriber();
    const { sdp } = await this.client.subscribe();
    if (sdp === null) return;
    await this.client.answer(await this.subscriber.answer(sdp));
  }

  saw(type: CallEvent["type"], pred: (e: CallEvent) => boolean = () => true): boolean {
    return this.events.some((e) => e.type === type && pred(e));
  }

  async close(): Promise<void> {
    this.client.stop();
    await this.running;
    await this.publisher?.close();
    await this.subscriber?.close();
  }
}

describe("group calls on the werift SFU (signaling over HTTP)", () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let mallory: TestUser;
  let roomId: string;
  const parts: NodeParticipant[] = [];

  beforeAll(async () => {
    server = await startTestServer({
      NOVA_SFU_ICE_ADDRESS: "127.0.0.1",
      NOVA_CALL_GRACE_MS: "4000",
      NOVA_CALL_ICE_TIMEOUT_MS: "6000",
      NOVA_SFU_MAX_BITRATE: "800000",
    });
    [alice, bob, carol, mallory] = [
      await server.register(),
      await server.register(),
      await server.register(),
      await server.register(),
    ];
    roomId = await callRoom(server, alice!, [bob!, carol!]);
  });
  afterAll(async () => {
    for (const p of parts) await p.close();
    await server?.close();
  });

  const memberState = (u: TestUser) =>
    server.call(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${CALL_MEMBER_EVENT}/${encodeURIComponent(memberStateKey(u.userId, u.deviceId))}`,
      { token: alice.accessToken },
    );

  it("refuses a user who is not in the room with M_FORBIDDEN", async () => {
    const c = new CallClient(httpRequester(server.baseUrl, mallory.accessToken));
    const err = await c.join(roomId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallError);
    expect((err as CallError).status).toBe(403);
    expect((err as CallError).errcode).toBe("M_FORBIDDEN");
    expect(server.calls.callOf(roomId)).toBeUndefined();
  });

  it("forwards media between members, publishes MatrixRTC membership, survives bad input, relays mute, drops the silent", async () => {
    const a = new NodeParticipant(server, alice);
    const b = new NodeParticipant(server, bob);
    parts.push(a, b);

    await a.client.join(roomId);
    a.startEvents();
    await a.publish();
    const joined = await b.client.join(roomId, { maxBitrate: 300_000 });
    expect(joined.participants.map((p) => p.user_id).sort()).toEqual([alice.userId, bob.userId].sort());
    expect(a.client.callId).toBe(b.client.callId);
    b.startEvents();
    await b.resubscribe();
    await b.publish();

    // Membership is visible to Matrix clients as room state.
    const state = await memberState(bob);
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ application: "m.call", scope: "m.room", device_id: bob.deviceId });
    expect(state.body.foci_preferred).toEqual([{ type: "org.nova.sfu", call_id: b.client.callId }]);

    await waitFor(
      () => a.saw("participant_joined", (e) => "user_id" in e && e.user_id === bob.userId),
      5000,
      "join event",
    );
    // Bob published after Alice subscribed nothing yet; Alice's renegotiation brings Bob's media.
    await waitFor(() => a.saw("renegotiate"), 5000, "renegotiate at alice");
    await a.resubscribe();
    await waitFor(
      () => (b.subscriber?.received.video ?? 0) > 20 && (b.subscriber?.received.audio ?? 0) > 10,
      10_000,
      "alice's media at bob",
    );
    await waitFor(() => (a.subscriber?.received.video ?? 0) > 20, 10_000, "bob's media at alice");
    // Bob's ceiling (300 kbit/s) is what Alice's publisher is told (REMB).
    await waitFor(() => a.publisher!.rembs.some((x) => x <= 300_000n), 5000, "REMB at bob's ceiling");

    // /metrics reports the running call (the process's registry, as the admin listener serves it).
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^nova_calls_active 1$/m);
    expect(metrics).toMatch(/^nova_call_participants 2$/m);
    expect(Number(/^nova_sfu_forwarded_packets (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(40);

    // Malformed input is the client's error; the call goes on.
    const badSdp = await server.call(
      "POST",
      `/_matrix/client/unstable/org.nova.calls/calls/${a.client.callId}/publish`,
      {
        token: alice.accessToken,
        body: { sdp: "not an sdp" },
      },
    );
    expect(badSdp.status).toBe(400);
    expect(badSdp.body.errcode).toBe("M_INVALID_PARAM");
    const badIce = await server.call(
      "POST",
      `/_matrix/client/unstable/org.nova.calls/calls/${a.client.callId}/ice`,
      {
        token: alice.accessToken,
        body: { transport: "send", candidate: { candidate: "candidate:garbage" } },
      },
    );
    expect(badIce.status).toBe(400);
    const badShape = await server.call(
      "POST",
      `/_matrix/client/unstable/org.nova.calls/calls/${a.client.callId}/mute`,
      {
        token: alice.accessToken,
        body: { kind: "smell", muted: "yes" },
      },
    );
    expect(badShape.status).toBe(400);
    expect(badShape.body.errcode).toBe("M_BAD_JSON");
    const before = b.subscriber!.received.video;
    await waitFor(
      () => b.subscriber!.received.video > before + 10,
      5000,
      "media still flowing after bad input",
    );

    // Mute is relayed and stops the stream.
    await a.client.mute("video", true);
    await waitFor(
      () => b.saw("mute", (e) => e.type === "mute" && e.muted && e.kind === "video"),
      5000,
      "mute event",
    );
    await new Promise((r) => setTimeout(r, 300));
    const frozen = b.subscriber!.received.video;
    await new Promise((r) => setTimeout(r, 500));
    expect(b.subscriber!.received.video).toBe(frozen);
    await a.client.mute("video", false);
    await waitFor(() => b.subscriber!.received.video > frozen + 5, 5000, "media after unmute");

    // Carol joins and publishes an offer but never completes ICE (she ignores the answer):
    // dropped after the ICE timeout.
    const c = new NodeParticipant(server, carol);
    parts.push(c);
    await c.client.join(roomId);
    c.startEvents();
    const silent = new SyntheticPublisher();
    await c.client.publish(await silent.offer());
    await silent.close();
    await waitFor(
      () => a.saw("participant_left", (e) => e.type === "participant_left" && e.user_id === carol.userId),
      20_000,
      "carol's departure seen by alice",
    );
    expect(a.events.find((e) => e.type === "participant_left" && e.user_id === carol.userId)).toMatchObject({
      reason: "ice_timeout",
    });
    // Carol's own client is told why, even if the removal happened between two of its polls.
    await waitFor(() => c.saw("removed"), 5_000, "carol told");
    expect(c.events.find((e) => e.type === "removed")).toMatchObject({ reason: "ice_timeout" });

    // Bob's client goes silent (socket dropped): removed after the grace period, Alice sees it.
    b.client.stop();
    await waitFor(
      () => a.saw("participant_left", (e) => e.type === "participant_left" && e.user_id === bob.userId),
      20_000,
      "bob removed after grace",
    );
    expect(a.events.find((e) => e.type === "participant_left" && e.user_id === bob.userId)).toMatchObject({
      reason: "disconnected",
    });
    expect(server.calls.callOf(roomId)?.participants.map((p) => p.user_id)).toEqual([alice.userId]);
    const cleared = await memberState(bob);
    expect(cleared.body).toEqual({});

    // The last one out ends the call; the session is recorded as ended.
    const callId = a.client.callId!;
    await a.client.leave();
    expect(server.calls.callOf(roomId)).toBeUndefined();
    const session = await server.calls.history(callId);
    expect(session?.ended_at).toBeGreaterThan(0);
    expect(session?.participants.map((p) => p.leave_reason).sort()).toEqual([
      "disconnected",
      "ice_timeout",
      "left",
    ]);
  }, 60_000);

  it("on start, ends sessions a previous process left open and clears their members' call state", async () => {
    const repo = new CallsRepository(server.ctx.databases.get<unknown>("messaging").db as Kysely<CallTables>);
    // What a crashed process leaves: an open session, an open participant, their membership state.
    await repo.startSession({ callId: "c-orphan", roomId, sfu: "werift", createdBy: carol.userId, at: 1000 });
    await repo.addParticipant({
      callId: "c-orphan",
      userId: carol.userId,
      deviceId: carol.deviceId,
      at: 1000,
    });
    const put = await server.call(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${CALL_MEMBER_EVENT}/${encodeURIComponent(memberStateKey(carol.userId, carol.deviceId))}`,
      {
        token: carol.accessToken,
        body: { application: "m.call", call_id: "", scope: "m.room", device_id: carol.deviceId },
      },
    );
    expect(put.status).toBe(200);

    await server.calls.recover();
    const h = await server.calls.history("c-orphan");
    expect(h?.ended_at).toBeGreaterThan(1000);
    expect(h?.participants).toMatchObject([{ user_id: carol.userId, leave_reason: "server_restart" }]);
    expect((await memberState(carol)).body).toEqual({});
    // A new call can start in the room.
    const c = new CallClient(httpRequester(server.baseUrl, carol.accessToken));
    await c.join(roomId);
    expect(c.callId).not.toBe("c-orphan");
    await c.leave();
  });

  it("the same device joining again (a reload) replaces itself", async () => {
    const first = new CallClient(httpRequester(server.baseUrl, alice.accessToken));
    await first.join(roomId);
    const alone = first.callId;
    // Alone: the old call ends with the old self, and a fresh one starts.
    const again = new CallClient(httpRequester(server.baseUrl, alice.accessToken));
    expect((await again.join(roomId)).participants).toHaveLength(1);
    expect(again.callId).not.toBe(alone);
    expect((await server.calls.history(alone!))?.ended_at).toBeGreaterThan(0);

    // With company: same call, the others see the old self leave and the new one join.
    const b = new CallClient(httpRequester(server.baseUrl, bob.accessToken));
    await b.join(roomId);
    const third = new CallClient(httpRequester(server.baseUrl, alice.accessToken));
    const r = await third.join(roomId);
    expect(third.callId).toBe(again.callId);
    expect(r.participants).toHaveLength(2);
    const seen = await b.poll(0);
    expect(seen.map((e) => e.type)).toEqual(["participant_left", "participant_joined"]);
    expect(seen[0]).toMatchObject({ user_id: alice.userId, reason: "replaced" });
    await third.leave();
    await b.leave();
    expect(server.calls.callOf(roomId)).toBeUndefined();
  });
});
