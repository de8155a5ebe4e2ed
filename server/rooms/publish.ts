import { randomUUID } from "node:crypto";
import { messagingEvent, type PushRecipient } from "../events.ts";
import { hiddenByIgnore } from "./ignored-users.ts";
import type { RoomSnapshot } from "./room-snapshot.ts";
import type { OutboxRow } from "./storage/rows.ts";
import type { BuiltEvent } from "./write/build.ts";

/** A room event as push rules see it. */
export type PushEvent = {
  event_id: string;
  room_id: string;
  type: string;
  sender: string;
  content: Record<string, unknown>;
  state_key?: string;
};

/**
 * A recipient's push verdict on an event, from that user's push rules (server/client plugs the
 * evaluator in once mounted): null when the event does not notify them.
 */
export type PushVerdictPort = (
  snap: RoomSnapshot,
  event: PushEvent,
  recipient: string,
) => Promise<Omit<PushRecipient, "user_id"> | null>;

export const NO_VERDICTS: PushVerdictPort = async () => null;

/**
 * Who may be notified of an event: the room's joined members but the sender, and the target of
 * an invite (who is not joined yet and is the one an invite notifies).
 */
function candidates(snap: RoomSnapshot, e: PushEvent): string[] {
  const joined = snap.members("join").filter((u) => u !== e.sender);
  if (
    e.type === "m.room.member" &&
    e.state_key &&
    e.content.membership === "invite" &&
    e.state_key !== e.sender &&
    !joined.includes(e.state_key)
  )
    joined.push(e.state_key);
  return joined;
}

/**
 * The outbox rows a write publishes (server/events.ts): `room.event_stored` for every event, with
 * the recipients whose push rules say it notifies them (ignored senders notify no one who
 * ignores them), and `room.membership_changed` for membership events. Evaluated on the room's
 * state before the write, as unread counts are (stated simplification: the member list and
 * names at the write stand for those at each event of a multi-event write).
 */
export async function outboxRowsFor(
  snap: RoomSnapshot,
  built: readonly BuiltEvent[],
  verdictOf: PushVerdictPort,
  ignoredBy: (userId: string) => Promise<ReadonlySet<string>>,
): Promise<PendingOutbox[]> {
  const roomName = snap.get("m.room.name", "")?.pdu.content.name;
  const out: PendingOutbox[] = [];
  for (const b of built) {
    const pdu = b.pdu;
    const event: PushEvent = {
      event_id: b.eventId,
      room_id: pdu.room_id,
      type: pdu.type,
      sender: pdu.sender,
      // Before room v11 a redaction names its target outside content: published inside it, as
      // v11 does, so consumers (search drops the redacted event) read it in one place.
      content:
        pdu.type === "m.room.redaction" &&
        typeof pdu.redacts === "string" &&
        pdu.content.redacts === undefined
          ? { ...pdu.content, redacts: pdu.redacts }
          : pdu.content,
      ...(pdu.state_key !== undefined ? { state_key: pdu.state_key } : {}),
    };
    const recipients: PushRecipient[] = [];
    for (const userId of candidates(snap, event)) {
      const ignored = await ignoredBy(userId);
      if (hiddenByIgnore({ sender: pdu.sender, state_key: pdu.state_key ?? null }, ignored)) continue;
      const verdict = await verdictOf(snap, event, userId);
      if (verdict) recipients.push({ user_id: userId, ...verdict });
    }
    const senderName = snap.get("m.room.member", pdu.sender)?.pdu.content.displayname;
    out.push({
      eventId: b.eventId,
      build: (position) => {
        const rows: OutboxRow[] = [
          row(
            b.eventId,
            messagingEvent("room.event_stored", {
              ...event,
              stream_position: position,
              origin_server_ts: pdu.origin_server_ts,
              sender_display_name: typeof senderName === "string" ? senderName : null,
              room_name: typeof roomName === "string" ? roomName : null,
              member_count: snap.count("join"),
              recipients,
            }),
          ),
        ];
        const membership = pdu.content.membership;
        if (pdu.type === "m.room.member" && pdu.state_key !== undefined && typeof membership === "string") {
          rows.push(
            row(
              b.eventId,
              messagingEvent("room.membership_changed", {
                room_id: pdu.room_id,
                user_id: pdu.state_key,
                membership,
                prev_membership: b.prevMembership,
                event_id: b.eventId,
                sender: pdu.sender,
                stream_position: position,
              }),
            ),
          );
        }
        return rows;
      },
    });
  }
  return out;
}

/** An event's outbox rows, waiting for the stream position the write gives it. */
export type PendingOutbox = { eventId: string; build(position: number): OutboxRow[] };

function row(
  eventId: string,
  e: { aggregateType: string; aggregateId: string; eventType: string; payload: unknown },
): OutboxRow {
  return { id: randomUUID(), eventId, ...e };
}
