import type { StoredEvent } from "../rooms/events.ts";
import type { RoomSnapshot } from "../rooms/room-snapshot.ts";

/**
 * Event types that move a room up the client's list when they arrive (`bump_stamp`): MSC4186's
 * list with the unstable names clients send. Reactions, edits and profile changes do not bump.
 */
export const BUMP_EVENT_TYPES = [
  "m.room.create",
  "m.room.message",
  "m.room.encrypted",
  "m.sticker",
  "m.call.invite",
  "m.poll.start",
  "org.matrix.msc3381.poll.start",
  "m.beacon_info",
  "org.matrix.msc3672.beacon_info",
  "org.matrix.msc3672.beacon",
] as const;

const MAX_HEROES = 5;

/** A state event as required_state carries it (no prev_content: it is not a timeline event). */
export function stateEventJson(e: StoredEvent, now: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: e.pdu.type,
    state_key: e.pdu.state_key,
    content: e.pdu.content,
    sender: e.pdu.sender,
    origin_server_ts: e.pdu.origin_server_ts,
    event_id: e.eventId,
    unsigned: { age: Math.max(0, now - e.pdu.origin_server_ts) },
  };
  return out;
}

function text(e: StoredEvent | undefined, key: string): string | null {
  const v = e?.pdu.content[key];
  return typeof v === "string" && v !== "" ? v : null;
}

/**
 * The room's name, avatar, heroes and member counts (checklist §4.3). On an incremental response
 * (`since` set) only what changed after `since`: Element X reads the name from required_state and
 * computes it from heroes and counts when there is none, so both go down whenever membership moved.
 */
export function roomMeta(
  snap: RoomSnapshot,
  userId: string,
  since: number | null,
  upto: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const changed = (e: StoredEvent | undefined) => since === null || (e !== undefined && e.position > since);
  const nameEvent = snap.get("m.room.name", "");
  const name = nameEvent && nameEvent.position <= upto ? text(nameEvent, "name") : null;
  if (name !== null && changed(nameEvent)) out.name = name;
  const avatarEvent = snap.get("m.room.avatar", "");
  if (avatarEvent && avatarEvent.position <= upto && changed(avatarEvent)) {
    const url = text(avatarEvent, "url");
    if (url !== null) out.avatar = url;
    // A removed avatar on a room the client has: null tells it to drop it (ruma's JsOption).
    else if (since !== null) out.avatar = null;
  }
  if (since === null || snap.lastMembershipChange > since) {
    const joined = snap.members("join");
    const invited = snap.members("invite");
    out.joined_count = joined.length;
    out.invited_count = invited.length;
    if (name === null) out.heroes = heroes(snap, userId, joined, invited);
  }
  return out;
}

/** Up to five members other than the user: joined first, then invited, then former members. */
function heroes(snap: RoomSnapshot, userId: string, joined: string[], invited: string[]) {
  let ids = [...joined.sort(), ...invited.sort()].filter((u) => u !== userId);
  if (ids.length === 0)
    ids = [...snap.members("leave"), ...snap.members("ban")].filter((u) => u !== userId).sort();
  return ids.slice(0, MAX_HEROES).map((id) => {
    const member = snap.get("m.room.member", id);
    const hero: Record<string, unknown> = { user_id: id };
    const displayname = text(member, "displayname");
    const avatar = text(member, "avatar_url");
    if (displayname !== null) hero.displayname = displayname;
    if (avatar !== null) hero.avatar_url = avatar;
    return hero;
  });
}
