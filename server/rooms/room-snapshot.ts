import { type StateView, type StoredEvent, stateKeyOf } from "./events.ts";
import { type PowerLevels, powerLevelsOf } from "./power-levels.ts";
import { type RoomVersion, type RoomVersionRules, rulesFor } from "./room-versions.ts";

/**
 * A room's current state and forward extremity, cached in memory so a send needs no state reads.
 * Only the rooms service writes rooms, under the room's lock, and it updates the snapshot after
 * each commit — the snapshot is therefore exact for a single homeserver process.
 */
export class RoomSnapshot implements StateView {
  readonly rules: RoomVersionRules;
  private powerCache: PowerLevels | null = null;
  /** Writes to this room started and not yet applied here: lastPosition may lag the stream. */
  inFlight = 0;
  /** Current membership per user, kept beside the state so member lists cost no scan. */
  private readonly memberships = new Map<string, string>();
  /** Members per membership, counted when first asked after a membership change. */
  private memberCounts: Map<string, number> | null = null;
  /**
   * Stream position of the room's newest relation event (0: none). A relation always comes after
   * its target, so events newer than this have none: sync asks for the aggregations of a timeline
   * only when it reaches back that far (redacted relations may leave it high; that only costs a query).
   */
  lastRelation = 0;
  /** Stream position of the newest membership event in the current state. */
  lastMembershipChange = 0;

  constructor(
    readonly roomId: string,
    readonly version: RoomVersion,
    readonly state: Map<string, StoredEvent>,
    public lastEventId: string | null,
    public depth: number,
    public lastPosition: number,
  ) {
    this.rules = rulesFor(version);
    for (const e of state.values()) this.trackMember(e);
  }

  private trackMember(e: StoredEvent): void {
    if (e.pdu.type !== "m.room.member" || !e.pdu.state_key) return;
    const m = e.pdu.content.membership;
    if (typeof m === "string") this.memberships.set(e.pdu.state_key, m);
    this.memberCounts = null;
    if (e.position > this.lastMembershipChange) this.lastMembershipChange = e.position;
  }

  get(type: string, stateKey: string): StoredEvent | undefined {
    return this.state.get(stateKeyOf(type, stateKey));
  }

  powerLevels(): PowerLevels {
    if (!this.powerCache) this.powerCache = powerLevelsOf(this, this.rules);
    return this.powerCache;
  }

  /** Applies committed events (in order). */
  apply(events: StoredEvent[]): void {
    for (const e of events) {
      if (e.pdu.state_key !== undefined) {
        this.state.set(stateKeyOf(e.pdu.type, e.pdu.state_key), e);
        this.trackMember(e);
        if (e.pdu.type === "m.room.power_levels" || e.pdu.type === "m.room.create") this.powerCache = null;
      }
      const rel = e.pdu.content["m.relates_to"] as { rel_type?: unknown; event_id?: unknown } | undefined;
      // What message_relations indexes: a plain reply (m.in_reply_to only) is no relation.
      if (rel && typeof rel.rel_type === "string" && typeof rel.event_id === "string")
        this.lastRelation = e.position;
      this.lastEventId = e.eventId;
      this.depth = e.pdu.depth;
      this.lastPosition = e.position;
    }
  }

  /** Replaces the content of a current-state event that was redacted. */
  redacted(eventId: string, redactedContent: Record<string, unknown>): void {
    for (const [k, e] of this.state) {
      if (e.eventId === eventId) {
        this.state.set(k, { ...e, pdu: { ...e.pdu, content: redactedContent } });
        this.powerCache = null;
      }
    }
  }

  /** User ids whose current membership is `membership`. */
  members(membership: string): string[] {
    const out: string[] = [];
    for (const [user, m] of this.memberships) if (m === membership) out.push(user);
    return out;
  }

  /** How many users' current membership is `membership`. */
  count(membership: string): number {
    if (!this.memberCounts) {
      const counts = new Map<string, number>();
      for (const m of this.memberships.values()) counts.set(m, (counts.get(m) ?? 0) + 1);
      this.memberCounts = counts;
    }
    return this.memberCounts.get(membership) ?? 0;
  }

  /** Whether the user's current membership is `membership`. */
  is(userId: string, membership: string): boolean {
    return this.memberships.get(userId) === membership;
  }
}

/** State being built by a batch of events before it commits: reads fall through to the snapshot. */
export class StateOverlay implements StateView {
  private readonly changes = new Map<string, StoredEvent>();
  constructor(private readonly base: StateView) {}
  get(type: string, stateKey: string): StoredEvent | undefined {
    return this.changes.get(stateKeyOf(type, stateKey)) ?? this.base.get(type, stateKey);
  }
  set(e: StoredEvent): void {
    if (e.pdu.state_key !== undefined) this.changes.set(stateKeyOf(e.pdu.type, e.pdu.state_key), e);
  }
}

/** One queue per key: writes to a room run one at a time, in arrival order. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Whether someone holds or waits for `key`. */
  isLocked(key: string): boolean {
    return this.tails.has(key);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
