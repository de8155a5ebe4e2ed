import { type MatrixClient, Preset } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PushGateway } from "../helpers/push-gateway.ts";
import { waitFor } from "../helpers/wait.ts";
import { cryptoClient, register } from "./clients.ts";

(logger as unknown as { setLevel(level: string): void }).setLevel("error");
console.debug = () => {};
console.info = () => {};

export type PushScenarioServer = { baseUrl: string; stop(): Promise<unknown> };

const APP = "org.nova.e2e";

/**
 * Push with real clients: alice (matrix-js-sdk, Rust crypto) sets two pushers on a push gateway
 * (one full, one `event_id_only`); bob messages her in a plain room and in an encrypted one; the
 * gateway gets one notify per pusher with the right badge, no plaintext for the encrypted one;
 * alice reading the rooms sends badge-only updates down to zero; a pushkey the gateway rejects
 * is removed.
 */
export function pushScenario(name: string, start: () => Promise<PushScenarioServer>): void {
  describe(name, () => {
    let server: PushScenarioServer;
    const gateway = new PushGateway();
    let alice: MatrixClient;
    let bob: MatrixClient;
    let plainRoom: string;
    let secretRoom: string;

    const room = async (encrypted: boolean) => {
      const created = await bob.createRoom({
        preset: Preset.PrivateChat,
        invite: [alice.getUserId()!],
        initial_state: encrypted
          ? [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }]
          : [],
      });
      await waitFor("alice's invite", () => alice.getRoom(created.room_id)?.getMyMembership() === "invite");
      await alice.joinRoom(created.room_id);
      await waitFor(
        "bob to see alice join",
        () => bob.getRoom(created.room_id)?.getMember(alice.getUserId()!)?.membership === "join",
      );
      return created.room_id;
    };
    const pushesFor = (eventId: string, n = 2) =>
      waitFor(
        `${n} pushes of ${eventId}`,
        () => (gateway.forEvent(eventId).length >= n ? gateway.forEvent(eventId) : null),
        30_000,
      );
    const byKey = (pushes: ReturnType<PushGateway["forEvent"]>, key: string) =>
      pushes.find((p) => p.notification.devices[0]?.pushkey === key)!;

    beforeAll(async () => {
      await gateway.start();
      server = await start();
      alice = await cryptoClient(server.baseUrl, await register(server.baseUrl, "alice"));
      bob = await cryptoClient(server.baseUrl, await register(server.baseUrl, "bob"));
      const pusher = { kind: "http", app_id: APP, app_display_name: "Nova e2e", lang: "en" } as const;
      await alice.setPusher({
        ...pusher,
        pushkey: "alice-phone",
        device_display_name: "phone",
        data: { url: gateway.url },
      });
      await alice.setPusher({
        ...pusher,
        pushkey: "alice-tablet",
        device_display_name: "tablet",
        data: { url: gateway.url, format: "event_id_only" },
      });
      plainRoom = await room(false);
      secretRoom = await room(true);
    }, 120_000);

    afterAll(async () => {
      alice?.stopClient();
      bob?.stopClient();
      await server?.stop();
      await gateway.stop();
    });

    it("lists the pushers alice set, as she set them", async () => {
      const { pushers } = await alice.getPushers();
      expect(pushers.map((p) => p.pushkey).sort()).toEqual(["alice-phone", "alice-tablet"]);
      const tablet = pushers.find((p) => p.pushkey === "alice-tablet")!;
      expect(tablet).toMatchObject({ app_id: APP, kind: "http", data: { format: "event_id_only" } });
    });

    it("pushes a plain message to each pusher with the badge, full and event_id_only", async () => {
      const { event_id } = await bob.sendTextMessage(plainRoom, "hello alice");
      const pushes = await pushesFor(event_id);
      expect(pushes).toHaveLength(2);
      const full = byKey(pushes, "alice-phone").notification;
      expect(full).toMatchObject({
        event_id,
        room_id: plainRoom,
        type: "m.room.message",
        sender: bob.getUserId(),
        content: { body: "hello alice" },
        counts: { unread: 1 },
      });
      expect(full.devices[0]).toMatchObject({ app_id: APP, pushkey: "alice-phone", data: {} });
      expect(full.devices[0]!.data).not.toHaveProperty("url");
      const idOnly = byKey(pushes, "alice-tablet").notification;
      expect(idOnly).toMatchObject({ event_id, room_id: plainRoom, counts: { unread: 1 } });
      expect(idOnly).not.toHaveProperty("content");
      expect(idOnly).not.toHaveProperty("sender");
    });

    it("pushes an encrypted message without its plaintext, at high priority", async () => {
      const secret = "the launch code is 0000";
      const { event_id } = await bob.sendTextMessage(secretRoom, secret);
      const pushes = await pushesFor(event_id);
      expect(pushes).toHaveLength(2);
      const full = byKey(pushes, "alice-phone").notification;
      expect(full.type).toBe("m.room.encrypted");
      expect(full.content).toHaveProperty("ciphertext");
      expect(full.prio).toBe("high");
      expect(full.counts).toEqual({ unread: 2 });
      expect(JSON.stringify(gateway.received)).not.toContain(secret);
    });

    it("sends badge-only updates as alice reads, down to zero", async () => {
      const before = gateway.badges().length;
      const last = (roomId: string) => {
        const events = alice.getRoom(roomId)!.getLiveTimeline().getEvents();
        return events[events.length - 1]!;
      };
      await waitFor("alice to have both messages", () =>
        [plainRoom, secretRoom].every((r) => last(r).getSender() === bob.getUserId()),
      );
      await alice.sendReadReceipt(last(plainRoom));
      await waitFor(
        "a badge of 1 on each pusher",
        () =>
          gateway
            .badges()
            .slice(before)
            .filter((b) => b.notification.counts?.unread === 1).length >= 2,
      );
      await alice.sendReadReceipt(last(secretRoom));
      await waitFor(
        "a badge of 0 on each pusher",
        () =>
          gateway
            .badges()
            .slice(before)
            .filter((b) => b.notification.counts?.unread === 0).length >= 2,
      );
      const res = await fetch(`${server.baseUrl}/_matrix/client/v3/notifications`, {
        headers: { Authorization: `Bearer ${alice.getAccessToken()}` },
      });
      // Read notifications that do not highlight leave the list, as Synapse drops them on a receipt.
      const body = (await res.json()) as { notifications: { read: boolean; room_id: string }[] };
      const unread = body.notifications.filter(
        (n) => (n.room_id === plainRoom || n.room_id === secretRoom) && !n.read,
      );
      expect(unread).toEqual([]);
    });

    it("removes a pusher whose pushkey the gateway rejects", async () => {
      gateway.rejected.add("alice-tablet");
      const { event_id } = await bob.sendTextMessage(plainRoom, "are you there?");
      await pushesFor(event_id);
      await waitFor("the rejected pusher to go", async () => {
        const { pushers } = await alice.getPushers();
        return pushers.length === 1 && pushers[0]!.pushkey === "alice-phone";
      });
      const { event_id: next } = await bob.sendTextMessage(plainRoom, "hello again");
      const pushes = await pushesFor(next, 1);
      await new Promise((r) => setTimeout(r, 500));
      expect(gateway.forEvent(next).map((p) => p.notification.devices[0]!.pushkey)).toEqual(["alice-phone"]);
      expect(pushes[0]!.notification.counts?.unread).toBe(1);
    });
  });
}
