import type { EventRow } from "../../server/rooms/rooms.repository.ts";

/** A stored message event at stream position `p`, for tests of the rooms caches. */
export const eventRow = (p: number): EventRow => ({
  event_id: `$e${p}`,
  room_id: "!r",
  stream_position: p,
  type: "m.room.message",
  state_key: null,
  sender: "@u",
  membership: null,
  pdu: "{}",
  prev_state: null,
  txn_device_id: null,
  txn_id: null,
  redacted_because: null,
});
