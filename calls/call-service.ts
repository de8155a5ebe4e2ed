import { randomBytes } from "node:crypto";
import { forbidden, invalidParam, MatrixError, notFound } from "../companion-services/platform/errors.ts";
import type { Logger } from "../companion-services/platform/logger.ts";
import type { RoomMembership, RoomStateWriter } from "../server/rooms/membership.ts";
import type { CallsRepository } from "./calls.repository.ts";
import type { CallStats } from "./metrics.ts";
import { ActiveCall, Participant, type ParticipantInfo, participantKey, type Queued } from "./participant.ts";
import {
  type IceCandidate,
  type MediaKind,
  type Producer,
  type RecvTransport,
  type SendTransport,
  type Sfu,
  SfuInputError,
  type TransportState,
} from "./sfu.ts";

/** MatrixRTC membership (MSC3401/MSC4143): one state event per participating device. */
export const CALL_MEMBER_EVENT = "org.matrix.msc3401.call.member";
/** How long a membership event stays valid for clients if it is never cleared (MSC4143 `expires`). */
const MEMBERSHIP_EXPIRES_MS = 4 * 60 * 60 * 1000;
/** How long a removed participant can still collect its last events (the `removed` one). */
const TOMBSTONE_MS = 60_000;

/** What the calls area needs from rooms: membership, and writing the MatrixRTC state as the user. */
export type CallRooms = Pick<RoomMembership, "membership"> & RoomStateWriter;

export type CallServiceOptions = {
  sfu: Sfu;
  rooms: CallRooms;
  repo: CallsRepository;
  logger: Logger;
  /** A participant with no events request open for this long is removed (its socket dropped). */
  graceMs: number;
  /** A participant none of whose transports connected within this (from the first one made) is removed. */
  iceTimeoutMs: number;
  /** Default per-subscriber video ceiling, bit/s. */
  maxVideoBitrate: number;
};

export type Caller = { userId: string; deviceId: string };

/** MSC3757-style state key owned by the device: `_<user id>_<device id>`. */
export const memberStateKey = (userId: string, deviceId: string) => `_${userId}_${deviceId}`;

/**
 * Group calls: one call per room, one SFU router per call. Joining checks room membership;
 * each participant's presence is published as MatrixRTC membership state in the room; media
 * signaling (SDP and ICE) goes to the SFU; server → client events wait in a per-participant queue
 * that the client long-polls (over HTTP or as request frames on the sync WebSocket), and that
 * poll is also the liveness signal: no poll open for `graceMs` and the participant is removed.
 */
export class CallService {
  private readonly byRoom = new Map<string, ActiveCall>();
  private readonly byId = new Map<string, ActiveCall>();
  private readonly roomLocks = new Map<string, Promise<unknown>>();
  /** Removed participants' queues by `callId|participant`, so their next poll still tells them why. */
  private readonly tombstones = new Map<string, { p: Participant; until: number }>();
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly o: CallServiceOptions) {
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, o.graceMs / 4)));
    this.sweepTimer.unref();
  }

  /** Serializes joins and leaves per room so two first joiners never open two calls. */
  private withRoom<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.roomLocks.get(roomId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.roomLocks.set(roomId, tail);
    void tail.then(() => {
      if (this.roomLocks.get(roomId) === tail) this.roomLocks.delete(roomId);
    });
    return next;
  }

  async join(
    caller: Caller,
    roomId: string,
    opts: { maxBitrate?: number } = {},
  ): Promise<{ call_id: string; participants: ParticipantInfo[] }> {
    if ((await this.o.rooms.membership(roomId, caller.userId)) !== "join") {
      throw forbidden("You are not joined to this room");
    }
    return this.withRoom(roomId, async () => {
      // The same device joining again (a reload) replaces its old self; if it was alone, that
      // ends the old call and a new one starts below.
      const current = this.byRoom.get(roomId);
      const existing = current?.participants.get(participantKey(caller.userId, caller.deviceId));
      if (current && existing) {
        await this.removeLocked(current, existing, "replaced", { notifySelf: false, clearState: false });
      }
      let call = this.byRoom.get(roomId);
      if (!call) {
        const callId = `c${randomBytes(12).toString("base64url")}`;
        const router = await this.o.sfu.createRouter(callId);
        try {
          await this.o.repo.startSession({
            callId,
            roomId,
            sfu: this.o.sfu.name,
            createdBy: caller.userId,
            at: Date.now(),
          });
        } catch (err) {
          await router.close();
          throw err;
        }
        call = new ActiveCall(callId, roomId, router);
        this.byRoom.set(roomId, call);
        this.byId.set(callId, call);
      }

      const p = new Participant(
        caller.userId,
        caller.deviceId,
        Math.min(opts.maxBitrate ?? this.o.maxVideoBitrate, this.o.maxVideoBitrate),
      );
      const others = [...call.participants.values()];
      call.participants.set(p.key, p);
      await this.o.repo.addParticipant({
        callId: call.callId,
        userId: p.userId,
        deviceId: p.deviceId,
        at: Date.now(),
      });
      for (const other of others)
        other.push({ type: "participant_joined", user_id: p.userId, device_id: p.deviceId });
      await this.publishMembership(call, p, true);
      return { call_id: call.callId, participants: [...call.participants.values()].map((x) => x.info()) };
    });
  }

  private async publishMembership(call: ActiveCall, p: Participant, joined: boolean): Promise<void> {
    const content: Record<string, unknown> = joined
      ? {
          application: "m.call",
          call_id: "",
          scope: "m.room",
          device_id: p.deviceId,
          expires: MEMBERSHIP_EXPIRES_MS,
          focus_active: { type: "org.nova.sfu", focus_selection: "oldest_membership" },
          foci_preferred: [{ type: "org.nova.sfu", call_id: call.callId }],
        }
      : {};
    try {
      await this.writeMembership(call.roomId, p.userId, p.deviceId, content);
    } catch (err) {
      // The room's power levels may not let members send call membership (rooms made for calls
      // set it to 0, as Element Call does); the call itself goes on, only its room view is missing.
      this.o.logger.warn(
        { err, roomId: call.roomId, userId: p.userId },
        "could not write call membership state",
      );
    }
  }

  private lookup(caller: Caller, callId: string): { call: ActiveCall; p: Participant } {
    const call = this.byId.get(callId);
    if (!call || call.ended) throw notFound("No such call");
    const p = call.participants.get(participantKey(caller.userId, caller.deviceId));
    if (!p) throw forbidden("You are not in this call");
    return { call, p };
  }

  private watch(call: ActiveCall, p: Participant, t: SendTransport | RecvTransport): void {
    t.onStateChange((s: TransportState) => {
      if (s === "connected") p.connectedOnce = true;
      // ICE or DTLS gave up: the participant cannot get media any more.
      if (s === "failed" && call.participants.get(p.key) === p) {
        void this.remove(call, p, "ice_failed").catch((err) =>
          this.o.logger.warn({ err }, "remove after ICE failure"),
        );
      }
    });
  }

  /** The client's offer on its send transport; returns the SFU's answer. Its tracks become producers. */
  async publish(caller: Caller, callId: string, sdp: string): Promise<{ sdp: string }> {
    const { call, p } = this.lookup(caller, callId);
    if (!p.send) {
      const t = await call.router.createSendTransport(p.key);
      p.send = t;
      p.transportSince ??= Date.now();
      this.watch(call, p, t);
      t.onProducer((producer) => this.onProducer(call, p, producer));
    }
    return { sdp: await this.sfuCall(() => p.send!.negotiate(sdp)) };
  }

  private onProducer(call: ActiveCall, owner: Participant, producer: Producer): void {
    if (owner.muted[producer.kind]) producer.pause();
    for (const other of call.participants.values()) if (other !== owner) other.push({ type: "renegotiate" });
    producer.onClose(() => {
      if (call.ended) return;
      for (const other of call.participants.values())
        if (other !== owner) other.push({ type: "renegotiate" });
    });
  }

  /**
   * The SFU's offer on the participant's receive transport, carrying every other participant's
   * streams; the client answers with `answer`.
   */
  async subscribe(caller: Caller, callId: string): Promise<{ sdp: string | null; streams: StreamInfo[] }> {
    const { call, p } = this.lookup(caller, callId);
    // Nothing to receive yet: no receive transport (an SDP without m-sections is no offer at all).
    if (!p.recv && !call.router.producers().some((x) => x.participantId !== p.key))
      return { sdp: null, streams: [] };
    if (!p.recv) {
      const t = await call.router.createRecvTransport(p.key, { maxBitrate: p.maxBitrate });
      p.recv = t;
      p.transportSince ??= Date.now();
      this.watch(call, p, t);
    }
    const recv = p.recv;
    const consumed = new Set(recv.consumers().map((c) => c.producerId));
    for (const producer of call.router.producers()) {
      if (producer.participantId === p.key || consumed.has(producer.id)) continue;
      await recv.consume(producer);
    }
    const sdp = await this.sfuCall(() => recv.createOffer());
    const byId = new Map(call.router.producers().map((x) => [x.id, x]));
    const streams: StreamInfo[] = [];
    for (const c of recv.consumers()) {
      const producer = byId.get(c.producerId);
      const owner = producer
        ? [...call.participants.values()].find((x) => x.key === producer.participantId)
        : undefined;
      if (!producer || !owner || c.mid === null) continue;
      streams.push({ mid: c.mid, kind: c.kind, user_id: owner.userId, device_id: owner.deviceId });
    }
    return { sdp, streams };
  }

  async answer(caller: Caller, callId: string, sdp: string): Promise<void> {
    const { p } = this.lookup(caller, callId);
    if (!p.recv) throw invalidParam("subscribe first: there is no offer to answer");
    const recv = p.recv;
    await this.sfuCall(() => recv.applyAnswer(sdp));
  }

  async ice(
    caller: Caller,
    callId: string,
    transport: "send" | "recv",
    candidate: IceCandidate,
  ): Promise<void> {
    const { p } = this.lookup(caller, callId);
    const t = transport === "send" ? p.send : p.recv;
    if (!t) throw invalidParam(`no ${transport} transport yet`);
    await this.sfuCall(() => t.addIceCandidate(candidate));
  }

  async mute(caller: Caller, callId: string, kind: MediaKind, muted: boolean): Promise<void> {
    const { call, p } = this.lookup(caller, callId);
    p.muted[kind] = muted;
    for (const producer of p.send?.producers() ?? []) {
      if (producer.kind !== kind) continue;
      if (muted) producer.pause();
      else producer.resume();
    }
    for (const other of call.participants.values()) {
      if (other !== p) other.push({ type: "mute", user_id: p.userId, device_id: p.deviceId, kind, muted });
    }
  }

  async leave(caller: Caller, callId: string): Promise<void> {
    const { call, p } = this.lookup(caller, callId);
    await this.remove(call, p, "left", { notifySelf: false });
  }

  /**
   * Long-poll for this participant's events after `since`. While a poll is open the participant
   * counts as connected; when the client goes away (HTTP abort or WebSocket close) the grace
   * period starts.
   */
  async events(
    caller: Caller,
    callId: string,
    since: number,
    timeoutMs: number,
    aborted: Promise<void>,
  ): Promise<{ events: Queued[]; next: number }> {
    const tomb = this.tombstones.get(`${callId}|${participantKey(caller.userId, caller.deviceId)}`);
    if (tomb && !this.byId.get(callId)?.participants.has(tomb.p.key)) {
      // Removed since the last poll: hand over what is left (ending with `removed`), once.
      this.tombstones.delete(`${callId}|${tomb.p.key}`);
      const events = tomb.p.queue.filter((e) => e.seq > since);
      return { events, next: events.at(-1)?.seq ?? since };
    }
    const { p } = this.lookup(caller, callId);
    // What the client has seen is acknowledged and can go.
    while (p.queue.length > 0 && p.queue[0]!.seq <= since) p.queue.shift();
    const pending = () => p.queue.filter((e) => e.seq > since);
    if (pending().length === 0 && timeoutMs > 0) {
      p.polling++;
      p.lastSeen = Date.now();
      let wake: () => void = () => {};
      const woken = new Promise<void>((r) => {
        wake = r;
      });
      p.waiters.add(wake);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woken, aborted, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
      p.waiters.delete(wake);
      p.polling--;
      p.lastSeen = Date.now();
    }
    const events = pending();
    return { events, next: events.length > 0 ? events[events.length - 1]!.seq : Math.max(since, 0) };
  }

  /** A member who leaves (or is kicked or banned from) the room leaves its call too. */
  async onMembershipChanged(roomId: string, userId: string, membership: string): Promise<void> {
    if (membership === "join") return;
    const call = this.byRoom.get(roomId);
    if (!call) return;
    for (const p of [...call.participants.values()]) {
      if (p.userId === userId) await this.remove(call, p, "left_room", { clearState: false });
    }
  }

  /** Snapshot for tests and metrics. */
  callOf(roomId: string): { callId: string; participants: ParticipantInfo[]; forwarded: number } | undefined {
    const call = this.byRoom.get(roomId);
    if (!call) return undefined;
    return {
      callId: call.callId,
      participants: [...call.participants.values()].map((p) => p.info()),
      forwarded: call.router.forwardedPackets(),
    };
  }

  /** Totals over the running calls (for /metrics). */
  stats(): CallStats {
    let participants = 0;
    let forwardedPackets = 0;
    for (const call of this.byId.values()) {
      participants += call.participants.size;
      forwardedPackets += call.router.forwardedPackets();
    }
    return { calls: this.byId.size, participants, forwardedPackets };
  }

  /** A call's recorded session and participants (history), or undefined. */
  async history(callId: string) {
    const session = await this.o.repo.session(callId);
    if (!session) return undefined;
    return { ...session, participants: await this.o.repo.participants(callId) };
  }

  private async remove(
    call: ActiveCall,
    p: Participant,
    reason: string,
    opts: { notifySelf?: boolean; clearState?: boolean } = {},
  ): Promise<void> {
    await this.withRoom(call.roomId, () => this.removeLocked(call, p, reason, opts));
  }

  private async removeLocked(
    call: ActiveCall,
    p: Participant,
    reason: string,
    { notifySelf = true, clearState = true }: { notifySelf?: boolean; clearState?: boolean } = {},
  ): Promise<void> {
    if (call.participants.get(p.key) !== p) return;
    call.participants.delete(p.key);
    if (notifySelf) {
      p.push({ type: "removed", reason });
      this.tombstones.set(`${call.callId}|${p.key}`, { p, until: Date.now() + TOMBSTONE_MS });
    }
    // An open poll of the removed participant returns now rather than at its timeout.
    for (const w of [...p.waiters]) w();
    await Promise.all([p.send?.close(), p.recv?.close()]);
    const at = Date.now();
    await this.o.repo.removeParticipant({
      callId: call.callId,
      userId: p.userId,
      deviceId: p.deviceId,
      at,
      reason,
    });
    for (const other of call.participants.values()) {
      other.push({ type: "participant_left", user_id: p.userId, device_id: p.deviceId, reason });
    }
    if (clearState) await this.publishMembership(call, p, false);
    // The last one out ends the call.
    if (call.participants.size === 0) {
      call.ended = true;
      this.byRoom.delete(call.roomId);
      this.byId.delete(call.callId);
      await call.router.close();
      await this.o.repo.endSession(call.callId, at);
    }
  }

  /** Removes participants whose client went away or whose media never connected. */
  private sweep(): void {
    const now = Date.now();
    for (const [k, t] of this.tombstones) if (t.until < now) this.tombstones.delete(k);
    for (const call of this.byId.values()) {
      for (const p of call.participants.values()) {
        let reason: string | null = null;
        if (p.polling === 0 && now - p.lastSeen > this.o.graceMs) reason = "disconnected";
        else if (
          !p.connectedOnce &&
          p.transportSince !== null &&
          now - p.transportSince > this.o.iceTimeoutMs
        ) {
          reason = "ice_timeout";
        }
        if (reason) {
          const r = reason;
          void this.remove(call, p, r).catch((err) =>
            this.o.logger.warn({ err, reason: r }, "call sweep failed"),
          );
        }
      }
    }
  }

  /** Writes a device's MatrixRTC membership state as its user (`{}` clears it). */
  private writeMembership(
    roomId: string,
    userId: string,
    deviceId: string,
    content: Record<string, unknown>,
  ): Promise<string> {
    return this.o.rooms.sendStateEvent(
      userId,
      roomId,
      CALL_MEMBER_EVENT,
      memberStateKey(userId, deviceId),
      content,
    );
  }

  /** Ends sessions a previous process left open, clearing their members' call state in the rooms. */
  async recover(): Promise<void> {
    const orphans = await this.o.repo.closeOrphans(Date.now());
    for (const o of orphans) {
      for (const p of o.participants) {
        try {
          await this.writeMembership(o.roomId, p.user_id, p.device_id, {});
        } catch (err) {
          this.o.logger.warn({ err, roomId: o.roomId }, "could not clear stale call membership");
        }
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const call of this.byId.values())
      for (const p of call.participants.values()) for (const w of p.waiters) w();
    await this.o.sfu.close();
  }

  /** SFU input errors are the client's mistake: a 400 for it, the call goes on. */
  private async sfuCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof SfuInputError) throw new MatrixError(400, "M_INVALID_PARAM", e.message);
      throw e;
    }
  }
}

/** Which participant's stream an m-section of the receive transport carries. */
export type StreamInfo = { mid: string; kind: MediaKind; user_id: string; device_id: string };
