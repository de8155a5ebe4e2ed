/** The sliding sync endpoint (unstable MSC4186, as Element X calls it). */
export const SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/** Element X's room list request (checklist §3.4), with a range; shared by tests and the benchmark. */
export function roomList(range: [number, number], extra: Record<string, unknown> = {}) {
  return {
    ranges: [range],
    timeline_limit: 1,
    required_state: [
      ["m.room.name", ""],
      ["m.room.encryption", ""],
      ["m.room.member", "$LAZY"],
      ["m.room.member", "$ME"],
      ["m.room.avatar", ""],
      ["m.room.create", ""],
    ],
    ...extra,
  };
}
