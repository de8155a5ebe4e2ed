/**
 * Which member events each device was sent under lazy loading (Synapse's per-device LL members
 * cache), so incremental syncs do not send them again unless the filter sets
 * include_redundant_members. In memory and bounded: a device whose record was dropped (evicted,
 * another replica, a restart) only receives members it may already have, which the spec allows.
 */
type Sent = { eventId: string; at: number };

const MAX_DEVICES = 5_000;
const MAX_MEMBERS_PER_DEVICE = 50_000;
/** How many of a device's recent response positions are remembered (long-polls answer several). */
const RECENT_POSITIONS = 16;

type Device = { size: number; rooms: Map<string, Map<string, Sent>>; answered: number[] };

export class LazyMembersSent {
  /** device key → room → user → the member event sent, and the stream position of that response. */
  private readonly devices = new Map<string, Device>();

  private key(userId: string, deviceId: string): string {
    return `${userId}\u0000${deviceId}`;
  }

  /**
   * A sync of the device from `since` answered up to `to`. A `since` this process did not answer
   * (the chain went through another replica, or a restart) may come after an initial sync
   * elsewhere: what was recorded here no longer counts.
   */
  answering(userId: string, deviceId: string, since: number | null, to: number): void {
    const key = this.key(userId, deviceId);
    let d = this.devices.get(key);
    if (d && (since === null || !d.answered.includes(since))) {
      this.devices.delete(key);
      d = undefined;
    }
    if (!d) {
      d = { size: 0, rooms: new Map(), answered: [] };
      if (this.devices.size >= MAX_DEVICES) this.devices.delete(this.devices.keys().next().value!);
      this.devices.set(key, d);
    }
    if (!d.answered.includes(to)) {
      d.answered.push(to);
      if (d.answered.length > RECENT_POSITIONS) d.answered.shift();
    }
  }

  /** A room sent in full (newly joined, full_state): what the client had of it no longer counts. */
  forgetRoom(userId: string, deviceId: string, roomId: string): void {
    const d = this.devices.get(this.key(userId, deviceId));
    const room = d?.rooms.get(roomId);
    if (!d || !room) return;
    d.size -= room.size;
    d.rooms.delete(roomId);
  }

  /**
   * Whether the device already holds this member event: it was sent in a response whose
   * next_batch is at or before `since` (a retried request with an older token gets it again).
   */
  has(
    userId: string,
    deviceId: string,
    roomId: string,
    stateKey: string,
    eventId: string,
    since: number,
  ): boolean {
    const sent = this.devices.get(this.key(userId, deviceId))?.rooms.get(roomId)?.get(stateKey);
    return sent !== undefined && sent.eventId === eventId && sent.at <= since;
  }

  /** Records member events sent in the response ending at stream position `at`. */
  record(
    userId: string,
    deviceId: string,
    roomId: string,
    events: { stateKey: string; eventId: string }[],
    at: number,
  ): void {
    if (events.length === 0) return;
    const key = this.key(userId, deviceId);
    const d = this.devices.get(key);
    if (!d) return;
    // Re-inserted: the map's order is least recently synced first.
    this.devices.delete(key);
    this.devices.set(key, d);
    let room = d.rooms.get(roomId);
    if (!room) {
      room = new Map();
      d.rooms.set(roomId, room);
    }
    for (const e of events) {
      const prev = room.get(e.stateKey);
      // An event already recorded keeps its first position: a retry of that sync still gets it.
      if (prev?.eventId === e.eventId) continue;
      if (!prev) d.size++;
      room.set(e.stateKey, { eventId: e.eventId, at });
    }
    if (d.size > MAX_MEMBERS_PER_DEVICE) this.devices.delete(key);
  }
}
