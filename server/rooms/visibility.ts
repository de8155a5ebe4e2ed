/**
 * History visibility (spec "Room History Visibility"): whether a user may see an event, from the
 * room's history_visibility and the user's membership at the event.
 */
export type VisibilityInputs = {
  userId: string;
  /** The user's member events in the room, oldest first. */
  memberships: { membership: string; stream_position: number }[];
  /** The room's history_visibility events, oldest first. */
  visibilities: { visibility: string; stream_position: number }[];
};

export type VisibleCandidate = {
  stream_position: number;
  type: string;
  state_key: string | null;
  membership: string | null;
};

const RANK: Record<string, number> = { world_readable: 3, shared: 2, invited: 1, joined: 0 };

function rank(v: string): number {
  return RANK[v] ?? RANK.shared!;
}

/** Returns a predicate; built once per request since the inputs are per (user, room). */
export function visibilityFilter(inputs: VisibilityInputs): (ev: VisibleCandidate) => boolean {
  const { memberships, visibilities, userId } = inputs;
  const current = memberships.length > 0 ? memberships[memberships.length - 1]!.membership : null;
  return (ev) => {
    const p = ev.stream_position;
    // Visibility in force before the event; a change of visibility is judged by the more permissive side.
    let visibility = "shared";
    let atEvent: string | null = null;
    for (const v of visibilities) {
      if (v.stream_position < p) visibility = v.visibility;
      else if (v.stream_position === p) atEvent = v.visibility;
      else break;
    }
    if (atEvent !== null && rank(atEvent) > rank(visibility)) visibility = atEvent;
    if (visibility === "world_readable") return true;
    // The user's membership at the event. For their own member event the more joined side counts, so
    // they see both their join and their leave (as Synapse does).
    let membership: string | null = null;
    let joinedLater = false;
    for (const m of memberships) {
      if (m.stream_position < p) membership = m.membership;
      else if (m.stream_position > p && m.membership === "join") joinedLater = true;
    }
    if (ev.type === "m.room.member" && ev.state_key === userId && ev.membership) {
      // A user always sees their own leave, or a rejected invite would never leave their room list.
      if (ev.membership === "leave") return true;
      if (membershipPriority(ev.membership) < membershipPriority(membership)) membership = ev.membership;
    }
    if (membership === "join") return true;
    if (visibility === "shared" && (joinedLater || current === "join")) return true;
    if (visibility === "invited" && membership === "invite") return true;
    return false;
  };
}

const PRIORITY = ["join", "invite", "knock", "leave", "ban"];

function membershipPriority(m: string | null): number {
  const i = m === null ? -1 : PRIORITY.indexOf(m);
  return i < 0 ? PRIORITY.length : i;
}
