import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RTCPeerConnection } from "werift";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { callRoom, type TestUser } from "./helpers/call-setup.ts";
import { loopbackOnly, loopbackPeer, waitFor } from "./helpers/werift-peer.ts";

const V3 = "/_matrix/client/v3";
type RoomEvent = { type: string; sender: string; content: Record<string, unknown>; event_id: string };

/**
 * 1:1 VoIP (spec §13.3): the m.call.* events are ordinary room events. Two werift peers exchange
 * offer, answer and candidates only through the homeserver (send + /sync) and connect; the other
 * call events flow the same way, in order; someone outside the room cannot inject them.
 */
describe("1:1 VoIP signaling through room events", () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let mallory: TestUser;
  let roomId: string;
  const since = new Map<string, string>();
  let txn = 0;

  beforeAll(async () => {
    s = await startTestServer();
    [alice, bob, mallory] = [await s.register(), await s.register(), await s.register()];
    roomId = await callRoom(s, alice, [bob]);
    for (const u of [alice, bob]) await nextEvents(u, 0);
  });
  afterAll(async () => {
    await s?.close();
  });

  async function send(u: TestUser, type: string, content: Record<string, unknown>) {
    return s.call("PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/send/${type}/t${++txn}`, {
      token: u.accessToken,
      body: content,
    });
  }

  /** The room timeline events after this user's last sync. */
  async function nextEvents(u: TestUser, timeout = 5000): Promise<RoomEvent[]> {
    const q = new URLSearchParams({ timeout: String(timeout) });
    const prev = since.get(u.userId);
    if (prev) q.set("since", prev);
    const r = await s.call("GET", `${V3}/sync?${q}`, { token: u.accessToken });
    expect(r.status).toBe(200);
    since.set(u.userId, r.body.next_batch as string);
    const rooms = (r.body.rooms as { join?: Record<string, { timeline: { events: RoomEvent[] } }> }) ?? {};
    return rooms.join?.[roomId]?.timeline.events ?? [];
  }

  /** Events synced but not yet looked at, per user (one sync can bring several). */
  const inbox = new Map<string, RoomEvent[]>();

  /** Takes the first event of `type` from someone else, syncing until it arrives. */
  async function expectEvent(u: TestUser, type: string): Promise<RoomEvent> {
    const box = inbox.get(u.userId) ?? [];
    inbox.set(u.userId, box);
    for (let i = 0; i < 10; i++) {
      const at = box.findIndex((e) => e.type === type && e.sender !== u.userId);
      if (at >= 0) return box.splice(at, 1)[0]!;
      box.push(...(await nextEvents(u)));
    }
    throw new Error(`${type} never reached ${u.userId}`);
  }

  it("invite → candidates → answer → select_answer → negotiate → hangup connects two peers", async () => {
    const callId = `call-${Date.now()}`;
    const base = { call_id: callId, version: "1" };
    const caller: RTCPeerConnection = loopbackPeer();
    const callee: RTCPeerConnection = loopbackPeer();
    try {
      caller.addTransceiver("audio", { direction: "sendrecv" });
      await caller.setLocalDescription(await caller.createOffer());
      // The offer SDP carries no candidates here; they travel as m.call.candidates (trickle).
      const offerSdp = caller.localDescription!.sdp.replace(/a=(candidate:.*|end-of-candidates)\r\n/g, "");
      const candidates = loopbackOnly(caller.localDescription!.sdp)
        .split("\r\n")
        .filter((l) => l.startsWith("a=candidate:"))
        .map((l) => ({ candidate: l.slice(2), sdpMid: "0", sdpMLineIndex: 0 }));
      expect(candidates.length).toBeGreaterThan(0);

      expect(
        (
          await send(alice, "m.call.invite", {
            ...base,
            party_id: "A",
            lifetime: 60000,
            offer: { type: "offer", sdp: offerSdp },
          })
        ).status,
      ).toBe(200);
      expect((await send(alice, "m.call.candidates", { ...base, party_id: "A", candidates })).status).toBe(
        200,
      );

      const invite = await expectEvent(bob, "m.call.invite");
      expect(invite.content).toMatchObject({ call_id: callId, party_id: "A" });
      await callee.setRemoteDescription(invite.content.offer as { type: "offer"; sdp: string });
      await callee.setLocalDescription(await callee.createAnswer());
      await send(bob, "m.call.answer", {
        ...base,
        party_id: "B",
        answer: { type: "answer", sdp: loopbackOnly(callee.localDescription!.sdp) },
      });

      const cands = await expectEvent(bob, "m.call.candidates");
      for (const c of cands.content.candidates as {
        candidate: string;
        sdpMid: string;
        sdpMLineIndex: number;
      }[]) {
        await callee.addIceCandidate(c);
      }

      const answer = await expectEvent(alice, "m.call.answer");
      expect(answer.content.party_id).toBe("B");
      await caller.setRemoteDescription(answer.content.answer as { type: "answer"; sdp: string });
      await send(alice, "m.call.select_answer", { ...base, party_id: "A", selected_party_id: "B" });

      await waitFor(
        () => caller.connectionState === "connected" && callee.connectionState === "connected",
        15_000,
        "peers connected through room signaling",
      );

      const selected = await expectEvent(bob, "m.call.select_answer");
      expect(selected.content.selected_party_id).toBe("B");

      // Renegotiation (e.g. adding video) goes the same way.
      await caller.setLocalDescription(await caller.createOffer());
      await send(alice, "m.call.negotiate", {
        ...base,
        party_id: "A",
        lifetime: 10000,
        description: { type: "offer", sdp: caller.localDescription!.sdp },
      });
      const negotiate = await expectEvent(bob, "m.call.negotiate");
      expect((negotiate.content.description as { type: string }).type).toBe("offer");

      await send(bob, "m.call.hangup", { ...base, party_id: "B", reason: "user_hangup" });
      const hangup = await expectEvent(alice, "m.call.hangup");
      expect(hangup.content.reason).toBe("user_hangup");
    } finally {
      await caller.close();
      await callee.close();
    }
  }, 60_000);

  it("a rejected invite reaches the caller; encrypted call events pass as opaque m.room.encrypted", async () => {
    const base = { call_id: "call-rejected", version: "1" };
    await send(alice, "m.call.invite", {
      ...base,
      party_id: "A",
      lifetime: 60000,
      offer: { type: "offer", sdp: "v=0\r\n" },
    });
    await expectEvent(bob, "m.call.invite");
    await send(bob, "m.call.reject", { ...base, party_id: "B" });
    expect((await expectEvent(alice, "m.call.reject")).content.party_id).toBe("B");

    const ciphertext = {
      algorithm: "m.megolm.v1.aes-sha2",
      ciphertext: "AwgAEn...",
      session_id: "s",
      sender_key: "k",
      device_id: "D",
    };
    expect((await send(alice, "m.room.encrypted", ciphertext)).status).toBe(200);
    expect((await expectEvent(bob, "m.room.encrypted")).content).toEqual(ciphertext);
  }, 30_000);

  it("someone outside the room cannot inject call events (403)", async () => {
    for (const type of ["m.call.invite", "m.call.candidates", "m.call.hangup"]) {
      const r = await send(mallory, type, { call_id: "x", party_id: "M", version: "1" });
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe("M_FORBIDDEN");
    }
    const events = [...(inbox.get(bob.userId) ?? []), ...(await nextEvents(bob, 0))];
    expect(events.filter((e) => e.sender === mallory.userId)).toEqual([]);
  });
});
