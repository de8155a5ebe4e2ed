import type { MediaKind, RecvTransport, SendTransport, SfuRouter } from "./sfu.ts";

/** Events queued per participant before the oldest are dropped (a client that stopped polling). */
const MAX_QUEUED_EVENTS = 1000;

export type ParticipantInfo = {
  user_id: string;
  device_id: string;
  muted: { audio: boolean; video: boolean };
};

/** Server → client call events, delivered by the events long-poll in order, each with a sequence number. */
export type CallEvent =
  | { type: "participant_joined"; user_id: string; device_id: string }
  | { type: "participant_left"; user_id: string; device_id: string; reason: string }
  /** The set of streams this participant can receive changed: ask for a new offer (subscribe). */
  | { type: "renegotiate" }
  | { type: "mute"; user_id: string; device_id: string; kind: MediaKind; muted: boolean }
  /** This participant was removed by the server (timeout, left the room, joined again elsewhere). */
  | { type: "removed"; reason: string };

export type Queued = CallEvent & { seq: number };

/** A device in a call: its transports, mute state, and the event queue its long-poll drains. */
export class Participant {
  readonly key: string;
  send?: SendTransport;
  recv?: RecvTransport;
  readonly queue: Queued[] = [];
  seq = 0;
  readonly waiters = new Set<() => void>();
  polling = 0;
  lastSeen = Date.now();
  connectedOnce = false;
  /** When its first transport was made: the ICE timeout runs from then (a listener with nothing to receive yet has none). */
  transportSince: number | null = null;
  readonly muted = { audio: false, video: false };

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    readonly maxBitrate: number,
  ) {
    this.key = participantKey(userId, deviceId);
  }

  push(event: CallEvent): void {
    this.queue.push({ ...event, seq: ++this.seq });
    if (this.queue.length > MAX_QUEUED_EVENTS) this.queue.splice(0, this.queue.length - MAX_QUEUED_EVENTS);
    for (const w of [...this.waiters]) w();
  }

  info(): ParticipantInfo {
    return { user_id: this.userId, device_id: this.deviceId, muted: { ...this.muted } };
  }
}

/** A running call: its room, its SFU router and who is in it. */
export class ActiveCall {
  readonly participants = new Map<string, Participant>();
  ended = false;
  constructor(
    readonly callId: string,
    readonly roomId: string,
    readonly router: SfuRouter,
  ) {}
}

/** A participant's key in a call's map. */
export const participantKey = (userId: string, deviceId: string) => `${userId}|${deviceId}`;
