import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../companion-services/notifications/delivery/backoff.ts";
import { parseRejected } from "../../companion-services/notifications/delivery/gateway.ts";
import {
  buildPayload,
  type NotificationForPayload,
  type PusherForPayload,
  priorityOf,
  tweaksOf,
} from "../../companion-services/notifications/delivery/payload.ts";

const ALICE = "@alice:test.nova";
const pusher = (data: Record<string, unknown> = {}): PusherForPayload => ({
  appId: "com.example.app",
  pushkey: "pk1",
  data: { url: "https://push.example/_matrix/push/v1/notify", extra: 7, ...data },
  createdAt: 1_700_000_123_456,
});
const device = { app_id: "com.example.app", pushkey: "pk1", pushkey_ts: 1_700_000_123 };
const message = (over: Partial<NotificationForPayload> = {}, body: Record<string, unknown> = {}) => ({
  id: "5b0d8f0e-0000-4000-8000-000000000001",
  kind: "messages" as const,
  roomId: "!room:test.nova",
  eventId: "$ev1",
  actions: ["notify", { set_tweak: "sound", value: "default" }, { set_tweak: "highlight" }],
  ...over,
  body: {
    event_id: "$ev1",
    room_id: "!room:test.nova",
    type: "m.room.message",
    sender: "@bob:test.nova",
    origin_server_ts: 1,
    content: { msgtype: "m.text", body: "hi" },
    sender_display_name: "Bob",
    room_name: "Lounge",
    ...body,
  },
});

describe("push payloads", () => {
  it("builds the full format: event fields, prio, counts, one device with tweaks, data without url", () => {
    expect(buildPayload(message(), pusher(), 3, ALICE)).toEqual({
      notification: {
        event_id: "$ev1",
        room_id: "!room:test.nova",
        type: "m.room.message",
        sender: "@bob:test.nova",
        sender_display_name: "Bob",
        room_name: "Lounge",
        prio: "high",
        content: { msgtype: "m.text", body: "hi" },
        counts: { unread: 3 },
        devices: [{ ...device, data: { extra: 7 }, tweaks: { sound: "default", highlight: true } }],
      },
    });
  });

  it("leaves out absent names and says low for a quiet message", () => {
    const p = buildPayload(
      message({ actions: ["notify"] }, { sender_display_name: null, room_name: null }),
      pusher(),
      0,
      ALICE,
    );
    expect(p.notification).not.toHaveProperty("sender_display_name");
    expect(p.notification).not.toHaveProperty("room_name");
    expect(p.notification.prio).toBe("low");
    expect(p.notification.counts).toEqual({ unread: 0 });
  });

  it("sends only ids, counts, prio and devices in event_id_only, and no tweaks", () => {
    const p = buildPayload(message(), pusher({ format: "event_id_only" }), 2, ALICE);
    expect(p).toEqual({
      notification: {
        event_id: "$ev1",
        room_id: "!room:test.nova",
        counts: { unread: 2 },
        prio: "high",
        devices: [{ ...device, data: { extra: 7, format: "event_id_only" } }],
      },
    });
  });

  it("passes an encrypted event's stored ciphertext and marks it high", () => {
    const content = {
      algorithm: "m.megolm.v1.aes-sha2",
      ciphertext: "AwgA…",
      session_id: "s",
      device_id: "D",
    };
    const p = buildPayload(
      message({ actions: ["notify"] }, { type: "m.room.encrypted", content }),
      pusher(),
      1,
      ALICE,
    );
    expect(p.notification.content).toEqual(content);
    expect(p.notification.prio).toBe("high");
  });

  it("adds membership and user_is_target for member events", () => {
    const invite = { type: "m.room.member", state_key: ALICE, content: { membership: "invite" } };
    const p = buildPayload(message({}, invite), pusher(), 1, ALICE);
    expect(p.notification.membership).toBe("invite");
    expect(p.notification.user_is_target).toBe(true);
    const other = buildPayload(message({}, { ...invite, state_key: "@carol:test.nova" }), pusher(), 1, ALICE);
    expect(other.notification.user_is_target).toBe(false);
  });

  it("builds a badge-only update without event fields or tweaks", () => {
    expect(buildPayload(null, pusher(), 4, ALICE)).toEqual({
      notification: {
        id: "",
        type: null,
        sender: "",
        counts: { unread: 4 },
        devices: [{ ...device, data: { extra: 7 } }],
      },
    });
  });

  it("builds a social notification typed nova.<kind> with its stored body", () => {
    const social: NotificationForPayload = {
      id: "5b0d8f0e-0000-4000-8000-000000000002",
      kind: "follows",
      roomId: null,
      eventId: null,
      actions: null,
      body: { follower: "@bob:test.nova" },
    };
    expect(buildPayload(social, pusher(), 5, ALICE)).toEqual({
      notification: {
        id: social.id,
        type: "nova.follows",
        content: { follower: "@bob:test.nova" },
        counts: { unread: 5 },
        prio: "high",
        devices: [{ ...device, data: { extra: 7 } }],
      },
    });
  });

  it("refuses a room notification whose stored body is not a room event", () => {
    expect(() => buildPayload({ ...message(), body: { nope: true } }, pusher(), 1, ALICE)).toThrow();
  });

  it("reads tweaks and priority as Synapse does", () => {
    expect(
      tweaksOf(["notify", { set_tweak: "highlight", value: false }, { set_tweak: "x" }, "coalesce"]),
    ).toEqual({
      highlight: false,
      x: true,
    });
    expect(priorityOf("m.room.message", { highlight: false })).toBe("low");
    expect(priorityOf("m.room.message", { sound: "ring" })).toBe("high");
    expect(priorityOf(null, {})).toBe("low");
  });
});

describe("gateway answers", () => {
  it("reads rejected pushkeys, treats a missing list as none and non-JSON as unreadable", () => {
    expect(parseRejected('{"rejected":["a",1,"b"]}')).toEqual(["a", "b"]);
    expect(parseRejected("{}")).toEqual([]);
    expect(parseRejected("")).toEqual([]);
    expect(parseRejected("<html>")).toBeNull();
    expect(parseRejected("[1]")).toBeNull();
  });
});

describe("retry backoff", () => {
  it("doubles from the base, is capped, and jitters within [3/4, 1] of the capped delay", () => {
    const base = 1_000;
    const max = 300_000;
    for (let failures = 1; failures <= 40; failures++) {
      const full = Math.min(max, base * 2 ** (failures - 1));
      expect(retryDelayMs(failures, base, max, () => 0)).toBe(Math.round(full * 0.75));
      expect(retryDelayMs(failures, base, max, () => 0.999999)).toBe(Math.round(full * 0.99999975));
      for (let i = 0; i < 50; i++) {
        const d = retryDelayMs(failures, base, max);
        expect(d).toBeGreaterThanOrEqual(Math.floor(full * 0.75));
        expect(d).toBeLessThanOrEqual(max);
        expect(d).toBeLessThanOrEqual(full);
      }
    }
    expect(retryDelayMs(1, base, max, () => 0.5)).toBe(875);
    expect(retryDelayMs(2, base, max, () => 1)).toBe(2_000);
    expect(retryDelayMs(5_000, base, max, () => 1)).toBe(max);
  });
});
