import type { RoomSnapshot } from "../room-snapshot.ts";

/**
 * A room as the directory and the space hierarchy describe it (the spec's PublicRoomsChunk plus
 * `room_type`), from its current state.
 */
export function roomSummary(snap: RoomSnapshot): Record<string, unknown> {
  const str = (type: string, key: string) => {
    const v = snap.get(type, "")?.pdu.content[key];
    return typeof v === "string" ? v : undefined;
  };
  const entry: Record<string, unknown> = {
    room_id: snap.roomId,
    num_joined_members: snap.count("join"),
    world_readable: str("m.room.history_visibility", "history_visibility") === "world_readable",
    guest_can_join: str("m.room.guest_access", "guest_access") === "can_join",
    join_rule: str("m.room.join_rules", "join_rule") ?? "invite",
  };
  const optional: [string, string | undefined][] = [
    ["name", str("m.room.name", "name")],
    ["topic", str("m.room.topic", "topic")],
    ["canonical_alias", str("m.room.canonical_alias", "alias")],
    ["avatar_url", str("m.room.avatar", "url")],
    ["room_type", str("m.room.create", "type")],
  ];
  for (const [k, v] of optional) if (v) entry[k] = v;
  return entry;
}
