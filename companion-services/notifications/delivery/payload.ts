import { z } from "zod";
import type { NotificationKind } from "../tables.ts";

/** The pusher, as the payload needs it. */
export type PusherForPayload = {
  appId: string;
  pushkey: string;
  data: Record<string, unknown>;
  /** ms */
  createdAt: number;
};

/** The stored notification, as the payload needs it. */
export type NotificationForPayload = {
  id: string;
  kind: NotificationKind;
  roomId: string | null;
  eventId: string | null;
  body: Record<string, unknown>;
  actions: unknown[] | null;
};

export type Device = {
  app_id: string;
  pushkey: string;
  pushkey_ts: number;
  data: Record<string, unknown>;
  tweaks?: Record<string, unknown>;
};

export type PushBody = { notification: Record<string, unknown> };

/** Only what the payload reads of a stored RoomEventBody; the rest is not sent. */
const roomEventBody = z.object({
  event_id: z.string(),
  room_id: z.string(),
  type: z.string(),
  sender: z.string(),
  state_key: z.string().optional(),
  content: z.record(z.string(), z.unknown()),
  sender_display_name: z.string().nullable().optional(),
  room_name: z.string().nullable().optional(),
});

/** `set_tweak` actions as a tweaks object; a tweak without a value is true (Synapse's reading). */
export function tweaksOf(actions: unknown[] | null): Record<string, unknown> {
  const tweaks: Record<string, unknown> = {};
  for (const a of actions ?? []) {
    if (typeof a !== "object" || a === null || Array.isArray(a)) continue;
    const { set_tweak: name, value } = a as { set_tweak?: unknown; value?: unknown };
    if (typeof name === "string") tweaks[name] = value === undefined ? true : value;
  }
  return tweaks;
}

/**
 * "high" wakes the device. Encrypted events are high because the server cannot tell what they
 * say; otherwise only what makes a sound or highlights is worth waking for.
 */
export function priorityOf(type: string | null, tweaks: Record<string, unknown>): "high" | "low" {
  return type === "m.room.encrypted" || tweaks.sound || tweaks.highlight ? "high" : "low";
}

/** The pusher as a `devices` entry: `pushkey_ts` in seconds, `data` without the gateway's url. */
export function deviceOf(pusher: PusherForPayload, tweaks?: Record<string, unknown>): Device {
  const { url: _url, ...data } = pusher.data;
  return {
    app_id: pusher.appId,
    pushkey: pusher.pushkey,
    pushkey_ts: Math.floor(pusher.createdAt / 1000),
    data,
    ...(tweaks ? { tweaks } : {}),
  };
}

/** Only the unread count changed (a read receipt): no event, no tweaks, nothing to sound. */
export function badgePayload(pusher: PusherForPayload, badge: number): PushBody {
  return {
    notification: { id: "", type: null, sender: "", counts: { unread: badge }, devices: [deviceOf(pusher)] },
  };
}

/** A room event's notification, in the pusher's format (`event_id_only` or the full one). */
export function roomEventPayload(
  n: NotificationForPayload,
  pusher: PusherForPayload,
  badge: number,
  recipient: string,
): PushBody {
  const ev = roomEventBody.parse(n.body);
  const tweaks = tweaksOf(n.actions);
  const prio = priorityOf(ev.type, tweaks);
  const counts = { unread: badge };
  const event_id = n.eventId ?? ev.event_id;
  const room_id = n.roomId ?? ev.room_id;
  if (pusher.data.format === "event_id_only")
    return { notification: { event_id, room_id, counts, prio, devices: [deviceOf(pusher)] } };
  const notification: Record<string, unknown> = { event_id, room_id, type: ev.type, sender: ev.sender };
  if (ev.sender_display_name) notification.sender_display_name = ev.sender_display_name;
  if (ev.room_name) notification.room_name = ev.room_name;
  notification.prio = prio;
  // As stored: for m.room.encrypted that is the ciphertext; the server never has more.
  notification.content = ev.content;
  if (ev.type === "m.room.member") {
    if (typeof ev.content.membership === "string") notification.membership = ev.content.membership;
    notification.user_is_target = ev.state_key === recipient;
  }
  notification.counts = counts;
  notification.devices = [deviceOf(pusher, tweaks)];
  return { notification };
}

/** A social notification (follows, likes…): not a Matrix event, so typed `nova.<kind>`. */
export function socialPayload(n: NotificationForPayload, pusher: PusherForPayload, badge: number): PushBody {
  const tweaks = tweaksOf(n.actions);
  return {
    notification: {
      id: n.id,
      type: `nova.${n.kind}`,
      content: n.body,
      counts: { unread: badge },
      prio: "high",
      devices: [deviceOf(pusher, Object.keys(tweaks).length > 0 ? tweaks : undefined)],
    },
  };
}

/**
 * The body to POST for one delivery: a badge update when there is no notification, a room
 * event's when it has a room, a social one otherwise. Throws (a zod error) when a room
 * notification's stored body is not a room event: resending would not change that.
 */
export function buildPayload(
  n: NotificationForPayload | null,
  pusher: PusherForPayload,
  badge: number,
  recipient: string,
): PushBody {
  if (!n) return badgePayload(pusher, badge);
  if (n.roomId !== null) return roomEventPayload(n, pusher, badge, recipient);
  return socialPayload(n, pusher, badge);
}
