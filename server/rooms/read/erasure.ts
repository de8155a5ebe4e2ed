import type { IdentityClient } from "../../../companion-services/identity/client.ts";
import { pduOf } from "../client-events.ts";
import { redactEvent } from "../redaction.ts";
import type { RoomVersion } from "../room-versions.ts";
import type { EventRow, MembershipChange } from "../storage/rows.ts";

/** How long "this sender is not erased" is believed; an erasure made on this process forgets it at once. */
const NOT_ERASED_TTL_MS = 5_000;
const MAX_ENTRIES = 50_000;

/**
 * Which senders are erased (deactivated with `erase`), asked of identity and remembered: an
 * erasure is final, so "erased" is kept; "not erased" for a few seconds (another replica may
 * erase meanwhile), and this process's own deactivations forget it at once.
 */
export class ErasedSenders {
  private readonly notErased = new Map<string, number>();
  private readonly erased = new Set<string>();

  constructor(private readonly identity: Pick<IdentityClient, "getUsers">) {}

  async among(senders: Iterable<string>): Promise<Set<string>> {
    const now = Date.now();
    const out = new Set<string>();
    const ask: string[] = [];
    for (const s of new Set(senders)) {
      if (this.erased.has(s)) out.add(s);
      else if ((this.notErased.get(s) ?? 0) <= now) ask.push(s);
    }
    if (ask.length === 0) return out;
    const users = await this.identity.getUsers(ask);
    if (this.notErased.size + ask.length > MAX_ENTRIES) this.notErased.clear();
    for (const s of ask) this.notErased.set(s, now + NOT_ERASED_TTL_MS);
    for (const u of users) {
      if (!u.erased) continue;
      this.notErased.delete(u.userId);
      this.erased.add(u.userId);
      out.add(u.userId);
    }
    return out;
  }

  /** A user was deactivated here: ask identity again next time. */
  forget(userId: string): void {
    this.notErased.delete(userId);
  }
}

/** Whether the user was joined when the event at `position` was sent. */
function joinedAt(memberships: MembershipChange[], position: number): boolean {
  let m: string | null = null;
  for (const c of memberships) {
    if (c.stream_position < position) m = c.membership;
    else break;
  }
  return m === "join";
}

/**
 * As Synapse (`filter_events_for_client`): events of erased senders are served redacted to a
 * viewer who was not joined when they were sent. Rows are not modified; pruned ones are copies.
 */
export async function pruneErased(
  rows: EventRow[],
  viewer: string,
  erased: ErasedSenders,
  room: () => Promise<{ memberships: MembershipChange[]; version: RoomVersion }>,
): Promise<EventRow[]> {
  if (rows.length === 0) return rows;
  const gone = await erased.among(rows.filter((r) => r.sender !== viewer).map((r) => r.sender));
  if (gone.size === 0) return rows;
  const { memberships, version } = await room();
  return rows.map((r) => {
    if (!gone.has(r.sender) || joinedAt(memberships, Number(r.stream_position))) return r;
    return { ...r, pdu: JSON.stringify(redactEvent(pduOf(r), version)) };
  });
}
