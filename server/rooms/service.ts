import { isDeepStrictEqual } from "node:util";
import { type Kysely, sql, type Transaction } from "kysely";
import {
  forbidden,
  invalidParam,
  MatrixError,
  notFound,
  tooLarge,
} from "../../companion-services/platform/errors.ts";
import type { Touch } from "../../sync/changes.ts";
import type { NovaContext } from "../context.ts";
import { authorizeEvent, selectAuthEvents } from "./auth-rules.ts";
import { type ClientEvent, normalizeRow, toClientEvent, type Viewer } from "./client-events.ts";
import type { Draft } from "./draft.ts";
import { hashAndSign, type SigningKey } from "./event-hashing.ts";
import { membershipIn, type Pdu, type StoredEvent } from "./events.ts";
import { newRoomId, parseRoomId, parseUserId, serverNameOf } from "./ids.ts";
import type { RoomMembership } from "./membership.ts";
import { userLevel } from "./power-levels.ts";
import { redactEvent } from "./redaction.ts";
import { type CreateRoomRequest, createRoomDrafts } from "./room-creation.ts";
import { KeyedMutex, RoomSnapshot, StateOverlay } from "./room-snapshot.ts";
import { DEFAULT_ROOM_VERSION, isSupportedRoomVersion, type RoomVersion, rulesFor } from "./room-versions.ts";
import { type EventRow, type EventWrite, type RedactionWrite, RoomsRepository } from "./rooms.repository.ts";
import { loadOrCreateSigningKey } from "./signing-key-store.ts";
import { RoomTimelineCache } from "./timeline-cache.ts";
import { visibilityFilter } from "./visibility.ts";
import { WriteBatcher } from "./write-batcher.ts";

/** The spec's limit on a whole PDU (spec "Size limits"). */
const MAX_PDU_BYTES = 65536;
const TXN_CACHE_SIZE = 50_000;
const USER_CACHE_SIZE = 100_000;
/** Rooms whose current state stays in memory (a few KB each). */
const MAX_SNAPSHOTS = 20_000;
/** Tries of one write when other replicas keep moving the room's head. */
const MAX_WRITE_ATTEMPTS = 5;

export type UserMembership = {
  room_id: string;
  membership: string;
  event_id: string;
  stream_position: number;
  forgotten: boolean;
};

export type { CreateRoomRequest } from "./room-creation.ts";

export type SendOptions = { txnId?: string; deviceId?: string };

export type { Draft } from "./draft.ts";

type Plan = {
  drafts: Draft[];
  /** An identical event already exists: return it, write nothing. */
  existing?: string;
  /** The event a redaction in `drafts` (first draft) applies to. */
  redactTarget?: EventRow;
  /** More writes in the same transaction (aliases, directory visibility). */
  extra?: (trx: Transaction<unknown>) => Promise<void>;
};

type PersistOptions = {
  newRoom?: { version: RoomVersion; creator: string; isPublic: boolean };
  txn?: { userId: string; deviceId: string; scope: string; txnId: string };
  /** Error when the room is unknown: 403 by default (spec: not a member), 404 for join. */
  missing?: () => MatrixError;
};

type BatchItem = {
  eventId: string;
  pdu: Pdu;
  text: string;
  prevState: string | null;
  txn: PersistOptions["txn"];
  /** The room head the event was built on (compare-and-swap). */
  expectedHead: number;
};

type BatchResult = { written: boolean; stale: boolean; position: number };

type WriteOutcome = {
  events: StoredEvent[];
  position: number;
  eventIds: string[];
  snap: RoomSnapshot;
  prevMembers: (string | null)[];
};

export type PersistResult = { events: StoredEvent[]; position: number; eventIds: string[] };

/**
 * Rooms and room events: builds events, applies the room version's authorization rules, signs them,
 * and writes event + state + membership in one stream transaction. Reads for clients apply history
 * visibility. Other areas use `sendEvent`, `sendStateEvent`, `getStateEvent` and RoomMembership.
 */
export class RoomsService implements RoomMembership {
  readonly repo: RoomsRepository;
  /** Rooms' newest events, shared by the deltas of their members. */
  readonly timelines: RoomTimelineCache;
  private readonly snapshots = new Map<string, RoomSnapshot>();
  private readonly loading = new Map<string, Promise<RoomSnapshot | null>>();
  /** Bumped when a room's cached state is dropped, so a load that raced the drop is not kept. */
  private readonly roomGenerations = new Map<string, number>();
  private readonly locks = new KeyedMutex();
  private readonly txnCache = new Map<string, string>();
  private keyPromise: Promise<SigningKey> | null = null;
  /** Each user's rooms and membership, loaded on first use and kept current by every write here. */
  private readonly userRooms = new Map<string, Map<string, UserMembership>>();
  /** Bumped on each membership change, so a load that raced a write is not cached. */
  private readonly userVersions = new Map<string, number>();
  /** Users with a membership write in flight: their cached memberships may lag the stream. */
  private readonly pendingUsers = new Map<string, number>();
  private readonly batcher: WriteBatcher<BatchItem, BatchResult>;

  constructor(
    private readonly ctx: NovaContext,
    private readonly db: Kysely<unknown>,
  ) {
    this.repo = new RoomsRepository(db);
    const changes = ctx.notifier.changes;
    this.timelines = new RoomTimelineCache((roomId, after) =>
      changes.covers(after) ? changes.lastForRoom(roomId, "room") : null,
    );
    this.batcher = new WriteBatcher((items) => this.writeBatch(items));
  }

  /**
   * Several homeserver processes share the database (fan-out over Redis): in-memory views may lag
   * writes made elsewhere, so readers that must not miss anything ask the database.
   */
  get multiReplica(): boolean {
    return Boolean(this.ctx.config.redisUrl);
  }

  get serverName(): string {
    return this.ctx.config.serverName;
  }

  signingKey(): Promise<SigningKey> {
    if (!this.keyPromise) {
      this.keyPromise = loadOrCreateSigningKey(this.repo);
      this.keyPromise.catch(() => {
        this.keyPromise = null;
      });
    }
    return this.keyPromise;
  }

  // ---------------------------------------------------------------- room snapshots

  /** The room's cached current state, loaded on first use; null for an unknown room. */
  async snapshot(roomId: string): Promise<RoomSnapshot | null> {
    const cached = this.snapshots.get(roomId);
    if (cached) {
      // Most recently used last, so eviction takes the coldest rooms.
      this.snapshots.delete(roomId);
      this.snapshots.set(roomId, cached);
      return cached;
    }
    let p = this.loading.get(roomId);
    if (!p) {
      p = this.loadSnapshot(roomId).finally(() => this.loading.delete(roomId));
      this.loading.set(roomId, p);
    }
    return p;
  }

  private async loadSnapshot(roomId: string): Promise<RoomSnapshot | null> {
    const generation = this.roomGenerations.get(roomId) ?? 0;
    const snap = await this.loadSnapshotFrom(this.db, roomId);
    if (!snap) return null;
    // A write may have cached a newer snapshot while this one loaded.
    const existing = this.snapshots.get(roomId);
    if (existing) return existing;
    // Invalidated while loading (a remote write): serve it once, do not keep it.
    if ((this.roomGenerations.get(roomId) ?? 0) !== generation) return snap;
    this.cacheSnapshot(roomId, snap);
    return snap;
  }

  /** Reads a room's current state and head (on `db`: the pool, or a transaction holding the room). */
  private async loadSnapshotFrom(db: Kysely<unknown>, roomId: string): Promise<RoomSnapshot | null> {
    const conv = await this.repo.getConversation(roomId, db);
    if (!conv || !isSupportedRoomVersion(conv.room_version)) return null;
    const head = Number(conv.head_position);
    const [stateRows, last] = await Promise.all([
      this.repo.currentState(roomId, db),
      this.repo.eventAt(roomId, head, db),
    ]);
    const state = new Map<string, StoredEvent>();
    for (const r of stateRows.map(normalizeRow)) {
      const pdu = JSON.parse(r.pdu) as Pdu;
      state.set(`${pdu.type}\u0000${pdu.state_key}`, {
        eventId: r.event_id,
        pdu,
        position: r.stream_position,
      });
    }
    const snap = new RoomSnapshot(
      roomId,
      conv.room_version,
      state,
      last?.event_id ?? null,
      last?.depth ?? 0,
      head,
    );
    return snap;
  }

  /** Whether the room's head in the database is past `head` (another process wrote the room). */
  async headMoved(roomId: string, head: number): Promise<boolean> {
    const conv = await this.repo.getConversation(roomId);
    return conv !== null && Number(conv.head_position) !== head;
  }

  /** Drops a room's cached state (another replica wrote it); the next use reloads it. */
  invalidateRoom(roomId: string): void {
    this.roomGenerations.set(roomId, (this.roomGenerations.get(roomId) ?? 0) + 1);
    this.snapshots.delete(roomId);
    this.loading.delete(roomId);
    this.timelines.drop(roomId);
  }

  /** Drops a user's cached memberships (another replica changed one). */
  invalidateUser(userId: string): void {
    this.userVersions.set(userId, (this.userVersions.get(userId) ?? 0) + 1);
    this.userRooms.delete(userId);
  }

  /**
   * Keeps at most MAX_SNAPSHOTS rooms in memory. A room being written (locked or with a write in
   * flight) is never evicted; an evicted room reloads from the database, which holds every commit.
   */
  private cacheSnapshot(roomId: string, snap: RoomSnapshot): void {
    this.snapshots.set(roomId, snap);
    if (this.snapshots.size <= MAX_SNAPSHOTS) return;
    let excess = this.snapshots.size - Math.floor(MAX_SNAPSHOTS * 0.9);
    for (const [id, s] of this.snapshots) {
      if (excess <= 0) break;
      if (s.inFlight > 0 || this.locks.isLocked(id)) continue;
      this.snapshots.delete(id);
      excess--;
    }
  }

  // ---------------------------------------------------------------- the write path

  /**
   * Builds, authorises, signs and stores events under the room's lock, in one `streams.write`
   * transaction (one statement for events, state, membership and indexes), then notifies syncs
   * and emits membershipChanged.
   */
  async persist(
    roomId: string,
    plan: (snap: RoomSnapshot) => Promise<Plan> | Plan,
    opts: PersistOptions = {},
  ): Promise<PersistResult> {
    const key = await this.signingKey();
    const outcome = await this.locks.run(roomId, async () => {
      // Another replica may have moved the room on: then reload it and build the events again.
      for (let attempt = 1; ; attempt++) {
        const seen = { head: -1 };
        let r: WriteOutcome | "stale";
        try {
          r = await this.attemptWrite(roomId, plan, opts, key, seen, attempt > 1);
        } catch (err) {
          // Refused against cached state: if the room moved on elsewhere, decide again on fresh state.
          if (!(err instanceof MatrixError && err.status === 403) || opts.newRoom) throw err;
          if (seen.head < 0 || attempt >= MAX_WRITE_ATTEMPTS || !(await this.headMoved(roomId, seen.head)))
            throw err;
          r = "stale";
        }
        if (r !== "stale") return r;
        this.invalidateRoom(roomId);
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new MatrixError(503, "M_UNKNOWN", "The room is changing too fast; try again.");
        }
      }
    });

    if (outcome.events.length > 0) {
      for (let i = 0; i < outcome.events.length; i++) {
        const e = outcome.events[i]!;
        if (e.pdu.type !== "m.room.member" || e.pdu.state_key === undefined) continue;
        const change = {
          roomId,
          userId: e.pdu.state_key,
          membership: String(e.pdu.content.membership),
          prevMembership: outcome.prevMembers[i] ?? null,
          position: e.position,
        };
        // The event is committed: a failing listener is logged, not turned into an error for the client.
        await this.ctx.hooks.emit("membershipChanged", change).catch((err: unknown) => {
          this.ctx.logger.error({ err, ...change }, "membershipChanged listener failed");
        });
      }
    }
    return { events: outcome.events, position: outcome.position, eventIds: outcome.eventIds };
  }

  /** One try of a write under the room's lock; "stale" when the room's head moved meanwhile. */
  private async attemptWrite(
    roomId: string,
    plan: (snap: RoomSnapshot) => Promise<Plan> | Plan,
    opts: PersistOptions,
    key: SigningKey,
    seen: { head: number },
    locked: boolean,
  ): Promise<WriteOutcome | "stale"> {
    const missing = opts.missing ?? (() => forbidden("You are not in this room."));
    if (locked) {
      // Pessimistic retry: hold the room's row lock from loading its state to committing, so no
      // other process can move the room in between. Caches are updated before the commit here
      // (ahead is safe for readers, see writeWith) and dropped if the transaction fails.
      const touched = { users: [] as string[] };
      try {
        const { result } = await this.ctx.streams.write(this.db, async (trx, _position, touch) => {
          await this.repo.lockRoom(trx, roomId);
          const snap = await this.loadSnapshotFrom(trx, roomId);
          if (!snap) throw missing();
          return this.writeWith(roomId, snap, plan, opts, key, seen, { trx, touch }, touched);
        });
        return result;
      } catch (err) {
        this.invalidateRoom(roomId);
        for (const u of touched.users) this.invalidateUser(u);
        throw err;
      }
    }
    const snap = opts.newRoom
      ? new RoomSnapshot(roomId, opts.newRoom.version, new Map(), null, 0, 0)
      : await this.snapshot(roomId);
    if (!snap) throw missing();
    return this.writeWith(roomId, snap, plan, opts, key, seen, null, { users: [] });
  }

  /**
   * Builds the plan's events on `snap` and writes them: inside `trx` (the locked retry) or in a
   * transaction of their own / the group commit.
   */
  private async writeWith(
    roomId: string,
    snap: RoomSnapshot,
    plan: (snap: RoomSnapshot) => Promise<Plan> | Plan,
    opts: PersistOptions,
    key: SigningKey,
    seen: { head: number },
    outer: { trx: Transaction<unknown>; touch: (t: Touch) => void } | null,
    touched: { users: string[] },
  ): Promise<WriteOutcome | "stale"> {
    seen.head = snap.lastPosition;
    const p = await plan(snap);
    if (p.existing)
      return { events: [] as StoredEvent[], position: 0, eventIds: [p.existing], snap, prevMembers: [] };

    const overlay = new StateOverlay(snap);
    const now = Date.now();
    let prev = snap.lastEventId;
    let depth = snap.depth;
    const built: {
      eventId: string;
      pdu: Pdu;
      text: string;
      prevState: string | null;
      prevMembership: string | null;
    }[] = [];
    for (const d of p.drafts) {
      const base: Pdu = {
        room_id: roomId,
        sender: d.sender,
        type: d.type,
        content: d.content,
        origin_server_ts: now,
        depth: depth + 1,
        prev_events: prev ? [prev] : [],
        auth_events: [],
      };
      if (d.stateKey !== undefined) base.state_key = d.stateKey;
      if (d.redacts !== undefined && !snap.rules.redactsInContent) base.redacts = d.redacts;
      base.auth_events = selectAuthEvents(base, overlay);
      authorizeEvent(base, overlay, snap.version);
      const { pdu, eventId } = hashAndSign(base, snap.version, this.serverName, key);
      const text = JSON.stringify(pdu);
      if (Buffer.byteLength(text) > MAX_PDU_BYTES) throw tooLarge("Event is larger than 65536 bytes");
      const replaced = d.stateKey !== undefined ? overlay.get(d.type, d.stateKey) : undefined;
      const prevState = replaced
        ? JSON.stringify({
            prev_content: replaced.pdu.content,
            prev_sender: replaced.pdu.sender,
            replaces_state: replaced.eventId,
          })
        : null;
      const prevMembership =
        d.type === "m.room.member" && d.stateKey !== undefined ? membershipIn(overlay, d.stateKey) : null;
      overlay.set({ eventId, pdu, position: 0 });
      built.push({ eventId, pdu, text, prevState, prevMembership });
      prev = eventId;
      depth++;
    }
    if (built.length === 0) return { events: [], position: 0, eventIds: [], snap, prevMembers: [] };

    // Until this write's effects are in the caches, readers must not trust them for this room or
    // for the members it changes: their position may already be visible (see inFlight, pendingUsers).
    const targets = built.flatMap((b) =>
      b.pdu.type === "m.room.member" && b.pdu.state_key !== undefined ? [b.pdu.state_key] : [],
    );
    touched.users = targets;
    snap.inFlight++;
    for (const u of targets) this.pendingUsers.set(u, (this.pendingUsers.get(u) ?? 0) + 1);
    try {
      const txn = opts.txn;
      // A lone event (the common send) joins the group commit; multi-event writes run on their own.
      const batchable = built.length === 1 && !opts.newRoom && !p.redactTarget && !p.extra && !outer;
      const b0 = built[0]!;
      const writeTx = async (trx: Transaction<unknown>, positions: number[], touch: (t: Touch) => void) => {
        if (opts.newRoom) {
          await this.repo.insertConversation(trx, {
            room_id: roomId,
            room_version: opts.newRoom.version,
            creator: opts.newRoom.creator,
            created_at: now,
            is_public: opts.newRoom.isPublic,
            head_position: 0,
          });
        }
        const writes: EventWrite[] = built.map((b, i) =>
          eventWrite(b.eventId, b.pdu, b.text, b.prevState, positions[i]!, txn),
        );
        let redaction: RedactionWrite | undefined;
        if (p.redactTarget) {
          const target = p.redactTarget;
          const redactedPdu = redactEvent(JSON.parse(target.pdu) as Record<string, unknown>, snap.version);
          const because = toClientEvent(
            { ...writeAsRow(writes[0]!), redacted_because: null, prev_state: null, txn_id: null },
            null,
            now,
          );
          redaction = {
            targetId: target.event_id,
            roomId,
            redactedPdu: JSON.stringify(redactedPdu),
            redactedBecause: JSON.stringify(because),
            redactionEventId: built[0]!.eventId,
            sender: built[0]!.pdu.sender,
            position: positions[0]!,
          };
        }
        if (p.extra) await p.extra(trx);
        const { written, stale } = await this.repo.writeEvents(trx, writes, {
          heads: [{ roomId, expected: snap.lastPosition, next: positions[positions.length - 1]! }],
          txns: txn ? [{ ...txn, eventId: b0.eventId, roomId }] : [],
          redaction,
        });
        const ok = written.has(b0.eventId) && stale.size === 0;
        if (ok) touch({ ...roomTouch(roomId, built), at: positions[positions.length - 1]! });
        return { written: written.has(b0.eventId), stale: stale.size > 0, positions, redaction };
      };
      const { result } = batchable
        ? {
            result: await this.batcher
              .submit({
                eventId: b0.eventId,
                pdu: b0.pdu,
                text: b0.text,
                prevState: b0.prevState,
                txn,
                expectedHead: snap.lastPosition,
              })
              .then((r) => ({ ...r, positions: [r.position], redaction: undefined })),
          }
        : outer
          ? {
              result: await writeTx(outer.trx, await this.allocateMore(outer.trx, built.length), outer.touch),
            }
          : await this.ctx.streams.write(this.db, async (trx, first, touch) =>
              writeTx(
                trx,
                [first, ...(built.length > 1 ? await this.allocateMore(trx, built.length - 1) : [])],
                touch,
              ),
            );
      if (result.stale) return "stale";
      if (!result.written) {
        // Same (device, txnId) already stored by an earlier request: return its event.
        const existing = await this.repo.txnEventId(txn!.userId, txn!.deviceId, txn!.scope, txn!.txnId);
        return { events: [], position: 0, eventIds: existing ? [existing] : [], snap, prevMembers: [] };
      }
      const events = built.map((b, i) => ({
        eventId: b.eventId,
        pdu: b.pdu,
        position: result.positions[i]!,
      }));
      if (result.redaction) this.timelines.drop(roomId);
      else {
        this.timelines.append(
          roomId,
          snap.lastPosition,
          built.map((b, i) =>
            writeAsRow(eventWrite(b.eventId, b.pdu, b.text, b.prevState, result.positions[i]!, txn)),
          ),
        );
      }
      snap.apply(events);
      for (const e of events) {
        if (e.pdu.type !== "m.room.member" || e.pdu.state_key === undefined) continue;
        const m = e.pdu.content.membership;
        if (typeof m !== "string") continue;
        this.noteMembership(e.pdu.state_key, {
          room_id: roomId,
          membership: m,
          event_id: e.eventId,
          stream_position: e.position,
          forgotten: false,
        });
      }
      if (opts.newRoom || outer) this.cacheSnapshot(roomId, snap);
      if (result.redaction) {
        const content = (JSON.parse(result.redaction.redactedPdu) as Pdu).content;
        snap.redacted(result.redaction.targetId, content);
      }
      return {
        events,
        position: result.positions[result.positions.length - 1]!,
        eventIds: events.map((e) => e.eventId),
        snap,
        prevMembers: built.map((b) => b.prevMembership),
      };
    } finally {
      snap.inFlight--;
      for (const u of targets) {
        const n = (this.pendingUsers.get(u) ?? 1) - 1;
        if (n <= 0) this.pendingUsers.delete(u);
        else this.pendingUsers.set(u, n);
      }
    }
  }

  /**
   * One group commit: single events of different rooms in one statement (atomic without a
   * transaction: two round trips with the positions' allocation).
   */
  private async writeBatch(items: BatchItem[]): Promise<BatchResult[]> {
    const { result } = await this.ctx.streams.writeStatement(
      this.db,
      items.length,
      async (db, positions, touch) => {
        const writes = items.map((it, i) =>
          eventWrite(it.eventId, it.pdu, it.text, it.prevState, positions[i]!, it.txn),
        );
        const txns = items.flatMap((it) =>
          it.txn ? [{ ...it.txn, eventId: it.eventId, roomId: it.pdu.room_id }] : [],
        );
        // One event per room: the room lock keeps a room's next write out until this one is done.
        const heads = items.map((it, i) => ({
          roomId: it.pdu.room_id,
          expected: it.expectedHead,
          next: positions[i]!,
        }));
        const { written, stale } = await this.repo.writeEvents(db, writes, { heads, txns });
        items.forEach((it, i) => {
          if (written.has(it.eventId) && !stale.has(it.pdu.room_id)) {
            touch({ ...roomTouch(it.pdu.room_id, [it]), at: positions[i]! });
          }
        });
        return items.map((it, i) => ({
          written: written.has(it.eventId),
          stale: stale.has(it.pdu.room_id),
          position: positions[i]!,
        }));
      },
    );
    return result;
  }

  /**
   * Extra stream positions for a multi-event write, in one round trip. The write's first position
   * stays in flight until commit, so readers cannot pass these higher ones before they are visible;
   * telling the stream about the highest keeps the safe position from stopping short of them.
   */
  private async allocateMore(trx: Transaction<unknown>, n: number): Promise<number[]> {
    const r = await sql<{
      p: number;
    }>`SELECT nextval('stream_position_seq') AS p FROM generate_series(1, ${n})`.execute(trx);
    const ps = r.rows.map((x) => Number(x.p)).sort((a, b) => a - b);
    this.ctx.streams.observeRemote(ps[ps.length - 1]!);
    return ps;
  }

  // ---------------------------------------------------------------- sending

  /** Sends a message (non-state) event; idempotent per (device, txnId) when both are given. */
  async sendEvent(
    sender: string,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    opts: SendOptions = {},
  ): Promise<string> {
    checkEventType(type);
    const txn =
      opts.txnId !== undefined && opts.deviceId !== undefined
        ? { userId: sender, deviceId: opts.deviceId, scope: `send/${roomId}/${type}`, txnId: opts.txnId }
        : undefined;
    const cacheKey = txn ? `${txn.userId}|${txn.deviceId}|${txn.scope}|${txn.txnId}` : null;
    if (cacheKey) {
      const hit = this.txnCache.get(cacheKey);
      if (hit) return hit;
    }
    if (type === "m.room.redaction") {
      const redacts = content.redacts;
      if (typeof redacts !== "string") throw invalidParam("m.room.redaction needs content.redacts");
      return this.redact(sender, roomId, redacts, content, opts);
    }
    const r = await this.persist(roomId, () => ({ drafts: [{ type, content, sender }] }), { txn });
    const id = r.eventIds[0]!;
    if (cacheKey) this.remember(cacheKey, id);
    return id;
  }

  private remember(key: string, eventId: string): void {
    if (this.txnCache.size >= TXN_CACHE_SIZE) {
      const oldest = this.txnCache.keys().next().value;
      if (oldest !== undefined) this.txnCache.delete(oldest);
    }
    this.txnCache.set(key, eventId);
  }

  /**
   * Sends a state event. Re-sending the same content by the same sender returns the current event
   * and writes nothing (as Synapse does), so retried PUTs are idempotent too.
   */
  async sendStateEvent(
    sender: string,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string> {
    checkEventType(type);
    if (Buffer.byteLength(stateKey) > 255) throw invalidParam("state_key is longer than 255 bytes");
    if (type === "m.room.canonical_alias") await this.checkCanonicalAlias(roomId, content);
    const r = await this.persist(roomId, (snap) => {
      const current = snap.get(type, stateKey);
      if (current && current.pdu.sender === sender && isDeepStrictEqual(current.pdu.content, content)) {
        return { drafts: [], existing: current.eventId };
      }
      return { drafts: [{ type, stateKey, content, sender }] };
    });
    return r.eventIds[0]!;
  }

  /** Content of the current state event, or null (no permission check: for other areas). */
  async getStateEvent(
    roomId: string,
    type: string,
    stateKey: string,
  ): Promise<Record<string, unknown> | null> {
    const snap = await this.snapshot(roomId);
    return snap?.get(type, stateKey)?.pdu.content ?? null;
  }

  private async checkCanonicalAlias(roomId: string, content: Record<string, unknown>): Promise<void> {
    const aliases: unknown[] = [];
    if (content.alias !== undefined) aliases.push(content.alias);
    if (content.alt_aliases !== undefined) {
      if (!Array.isArray(content.alt_aliases))
        throw new MatrixError(400, "M_INVALID_PARAM", "alt_aliases must be a list");
      aliases.push(...content.alt_aliases);
    }
    for (const a of aliases) {
      if (typeof a !== "string") throw new MatrixError(400, "M_INVALID_PARAM", "aliases must be strings");
      const row = await this.repo.getAlias(a);
      if (!row || row.room_id !== roomId) {
        throw new MatrixError(400, "M_BAD_ALIAS", `${a} does not point to this room`);
      }
    }
  }

  /** Redacts an event (PUT /redact): the redaction event and the stored event's redaction commit together. */
  async redact(
    sender: string,
    roomId: string,
    eventId: string,
    content: Record<string, unknown>,
    opts: SendOptions = {},
  ): Promise<string> {
    const txn =
      opts.txnId !== undefined && opts.deviceId !== undefined
        ? { userId: sender, deviceId: opts.deviceId, scope: `redact/${roomId}/${eventId}`, txnId: opts.txnId }
        : undefined;
    const cacheKey = txn ? `${txn.userId}|${txn.deviceId}|${txn.scope}|${txn.txnId}` : null;
    if (cacheKey) {
      const hit = this.txnCache.get(cacheKey);
      if (hit) return hit;
    }
    const target = await this.repo.getEvent(eventId);
    const r = await this.persist(
      roomId,
      (snap) => {
        if (membershipIn(snap, sender) !== "join") throw forbidden("You are not joined to this room.");
        if (!target || target.room_id !== roomId) throw notFound("Event not found.");
        const pl = snap.powerLevels();
        if (target.sender !== sender && userLevel(pl, sender) < pl.redact) {
          throw forbidden("You do not have permission to redact this event.");
        }
        const c: Record<string, unknown> = { ...content };
        if (snap.rules.redactsInContent) c.redacts = eventId;
        else delete c.redacts;
        return {
          drafts: [{ type: "m.room.redaction", content: c, sender, redacts: eventId }],
          redactTarget: normalizeRow(target),
        };
      },
      { txn },
    );
    const id = r.eventIds[0]!;
    if (cacheKey) this.remember(cacheKey, id);
    return id;
  }

  // ---------------------------------------------------------------- room creation & membership

  async createRoom(creator: string, req: CreateRoomRequest): Promise<{ roomId: string; alias?: string }> {
    const version = req.roomVersion ?? DEFAULT_ROOM_VERSION;
    if (!isSupportedRoomVersion(version)) {
      throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${version} is not supported`);
    }
    const rules = rulesFor(version);
    const invites = (req.invite ?? []).map(parseUserId);
    for (const u of invites) this.checkLocalUser(u);
    if (req.invite3pidCount)
      throw invalidParam("Third-party (3PID) invites are not supported by this server.");
    const preset = req.preset ?? (req.visibility === "public" ? "public_chat" : "private_chat");
    let alias: string | undefined;
    if (req.roomAliasName !== undefined) {
      if (!/^[^\s:#]+$/.test(req.roomAliasName))
        throw invalidParam("room_alias_name may not contain ':', '#' or spaces");
      alias = `#${req.roomAliasName}:${this.serverName}`;
      if (alias.length > 255) throw invalidParam("room alias too long");
      if (await this.repo.getAlias(alias))
        throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
    }
    const roomId = newRoomId(this.serverName);
    const [creatorProfile, ...inviteeProfiles] = await Promise.all([
      this.memberProfile(creator),
      ...invites.map((u) => this.memberProfile(u)),
    ]);
    const drafts = createRoomDrafts({
      creator,
      req,
      rules,
      version,
      preset,
      invites,
      alias,
      creatorProfile,
      inviteeProfiles,
    });

    await this.persist(
      roomId,
      () => ({
        drafts,
        extra: alias
          ? async (trx) => {
              if (!(await this.repo.insertAlias(trx, alias!, roomId, creator))) {
                throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
              }
            }
          : undefined,
      }),
      { newRoom: { version, creator, isPublic: req.visibility === "public" } },
    );
    return { roomId, alias };
  }

  /** Nova does not federate: an invite to another server's user could never be delivered. */
  private checkLocalUser(userId: string): void {
    if (serverNameOf(userId) !== this.serverName) {
      throw forbidden(`Cannot invite ${userId}: this server does not federate with other servers.`);
    }
  }

  /** displayname/avatar_url for a member event, from the identity service. */
  private async memberProfile(userId: string): Promise<Record<string, string>> {
    const u = await this.ctx.identity.getUser(userId);
    const out: Record<string, string> = {};
    if (u?.displayname) out.displayname = u.displayname;
    if (u?.avatarUrl) out.avatar_url = u.avatarUrl;
    return out;
  }

  /** Resolves a room id or a local alias; 404 when the alias is unknown. */
  async resolveRoom(roomIdOrAlias: string): Promise<string> {
    if (roomIdOrAlias.startsWith("#")) {
      const row = await this.repo.getAlias(roomIdOrAlias);
      if (!row) throw notFound("Room alias not found.");
      return row.room_id;
    }
    return parseRoomId(roomIdOrAlias);
  }

  async join(userId: string, roomIdOrAlias: string, reason?: string): Promise<string> {
    const roomId = await this.resolveRoom(roomIdOrAlias);
    const profile = await this.memberProfile(userId);
    await this.persist(
      roomId,
      (snap) => {
        const current = snap.get("m.room.member", userId);
        const content: Record<string, unknown> = { membership: "join", ...profile };
        if (reason !== undefined) content.reason = reason;
        if (
          current &&
          current.pdu.content.membership === "join" &&
          isDeepStrictEqual(current.pdu.content, content)
        ) {
          return { drafts: [], existing: current.eventId };
        }
        return { drafts: [{ type: "m.room.member", stateKey: userId, content, sender: userId }] };
      },
      { missing: () => notFound("Unknown room.") },
    );
    return roomId;
  }

  async leave(userId: string, roomId: string, reason?: string): Promise<void> {
    await this.setMembership(userId, roomId, userId, "leave", reason);
  }

  async invite(
    sender: string,
    roomId: string,
    target: string,
    reason?: string,
    isDirect?: boolean,
  ): Promise<void> {
    this.checkLocalUser(target);
    const profile = await this.memberProfile(target);
    await this.persist(roomId, (snap) => {
      const current = membershipIn(snap, target);
      if (current === "join") throw forbidden(`${target} is already in the room.`);
      if (current === "ban") throw forbidden(`${target} is banned from the room.`);
      const content: Record<string, unknown> = { membership: "invite", ...profile };
      if (reason !== undefined) content.reason = reason;
      if (isDirect) content.is_direct = true;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  async kick(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    await this.persist(roomId, (snap) => {
      const current = membershipIn(snap, target);
      if (membershipIn(snap, sender) !== "join") throw forbidden("You are not in this room.");
      if (current !== "join" && current !== "invite" && current !== "knock") {
        throw forbidden(`${target} is not in the room.`);
      }
      const content: Record<string, unknown> = { membership: "leave" };
      if (reason !== undefined) content.reason = reason;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  async ban(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    await this.setMembership(sender, roomId, target, "ban", reason);
  }

  async unban(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    await this.persist(roomId, (snap) => {
      if (membershipIn(snap, sender) !== "join") throw forbidden("You are not in this room.");
      if (membershipIn(snap, target) !== "ban") throw forbidden(`${target} is not banned.`);
      const content: Record<string, unknown> = { membership: "leave" };
      if (reason !== undefined) content.reason = reason;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  private async setMembership(
    sender: string,
    roomId: string,
    target: string,
    membership: string,
    reason?: string,
  ): Promise<void> {
    await this.persist(roomId, () => {
      const content: Record<string, unknown> = { membership };
      if (reason !== undefined) content.reason = reason;
      return { drafts: [{ type: "m.room.member", stateKey: target, content, sender }] };
    });
  }

  /** POST /forget: only once the user has left or been banned (spec: 400 otherwise). */
  async forget(userId: string, roomId: string): Promise<void> {
    const snap = await this.snapshot(roomId);
    const m = snap ? membershipIn(snap, userId) : null;
    if (m === null) throw notFound("You have never been in this room.");
    if (m === "join" || m === "invite" || m === "knock") {
      throw new MatrixError(400, "M_UNKNOWN", "User must leave the room before forgetting it.");
    }
    await this.ctx.streams.write(this.db, async (trx, _position, touch) => {
      await this.repo.setForgotten(trx, roomId, userId);
      touch({ userIds: [userId], kinds: ["room"] });
    });
    const row = this.userRooms.get(userId)?.get(roomId);
    this.userVersions.set(userId, (this.userVersions.get(userId) ?? 0) + 1);
    if (row) row.forgotten = true;
  }

  // ---------------------------------------------------------------- reads with permission checks

  /**
   * Where the user may read the room's state: current state while joined (or when the room is
   * world_readable), the state when they left for a former member; otherwise 403.
   */
  async readableAt(userId: string, roomId: string): Promise<{ snap: RoomSnapshot; position: number | null }> {
    try {
      return await this.readableAtCached(userId, roomId);
    } catch (err) {
      // Refused on cached state: another replica may have let the user in since.
      const snap = this.snapshots.get(roomId);
      if (!(err instanceof MatrixError) || !snap || !(await this.headMoved(roomId, snap.lastPosition)))
        throw err;
      this.invalidateRoom(roomId);
      return this.readableAtCached(userId, roomId);
    }
  }

  private async readableAtCached(
    userId: string,
    roomId: string,
  ): Promise<{ snap: RoomSnapshot; position: number | null }> {
    const snap = await this.snapshot(roomId);
    if (!snap) throw forbidden("You are not a member of this room.");
    const m = snap.get("m.room.member", userId);
    const membership = m?.pdu.content.membership;
    if (membership === "join") return { snap, position: null };
    if (snap.get("m.room.history_visibility", "")?.pdu.content.history_visibility === "world_readable") {
      return { snap, position: null };
    }
    if (m && (membership === "leave" || membership === "ban")) {
      // A former member (not a rejected invite or knock) sees the room as it was when they left.
      const history = await this.repo.membershipHistory(roomId, userId);
      if (history.some((h) => h.membership === "join")) return { snap, position: m.position };
    }
    throw forbidden("You are not a member of this room.");
  }

  /** State events as client events, current or at a position. */
  async stateEvents(roomId: string, position: number | null, viewer: Viewer | null): Promise<ClientEvent[]> {
    if (position === null) {
      const snap = await this.snapshot(roomId);
      if (!snap) return [];
      const rows = await this.repo.currentState(roomId);
      return rows.map((r) => toClientEvent(normalizeRow(r), viewer));
    }
    const rows = await this.repo.stateAt(roomId, position);
    return rows.map((r) => toClientEvent(normalizeRow(r), viewer));
  }

  /** A predicate for the events this user may see in this room (history visibility). */
  async visibleTo(userId: string, roomId: string): Promise<(row: EventRow) => boolean> {
    const [memberships, visibilities] = await Promise.all([
      this.repo.membershipHistory(roomId, userId),
      this.repo.visibilityHistory(roomId),
    ]);
    const f = visibilityFilter({ userId, memberships, visibilities });
    return (row) => f(row);
  }

  // ---------------------------------------------------------------- user memberships

  /**
   * The user's current membership in every room they have one in (cached; see userRooms). With
   * `consistent`, a reader that fixed its window before calling gets every membership committed
   * in it: while a membership write for the user is in flight the database answers instead.
   */
  async membershipsOf(userId: string, opts: { consistent?: boolean } = {}): Promise<UserMembership[]> {
    // With other replicas, their membership writes drop the cached user (Notifier.onRemoteWrite)
    // before readers here may pass them, so the cache is as good as the database for any window.
    if (opts.consistent && this.pendingUsers.has(userId)) {
      return this.repo.membershipsOf(userId);
    }
    const cached = this.userRooms.get(userId);
    if (cached) return [...cached.values()];
    const version = this.userVersions.get(userId) ?? 0;
    const rows = await this.repo.membershipsOf(userId);
    if ((this.userVersions.get(userId) ?? 0) === version && !this.userRooms.has(userId)) {
      if (this.userRooms.size >= USER_CACHE_SIZE) {
        const oldest = this.userRooms.keys().next().value;
        if (oldest !== undefined) this.userRooms.delete(oldest);
      }
      this.userRooms.set(userId, new Map(rows.map((r) => [r.room_id, { ...r }])));
    }
    return rows;
  }

  private noteMembership(userId: string, row: UserMembership): void {
    this.userVersions.set(userId, (this.userVersions.get(userId) ?? 0) + 1);
    this.userRooms.get(userId)?.set(row.room_id, row);
  }

  // ---------------------------------------------------------------- RoomMembership

  async joinedRoomIds(userId: string): Promise<string[]> {
    return (await this.membershipsOf(userId)).filter((m) => m.membership === "join").map((m) => m.room_id);
  }

  async activeRoomIds(userId: string): Promise<string[]> {
    return (await this.membershipsOf(userId))
      .filter((m) => m.membership === "join" || m.membership === "invite")
      .map((m) => m.room_id);
  }

  async membership(roomId: string, userId: string): Promise<string | null> {
    const snap = await this.snapshot(roomId);
    return snap ? membershipIn(snap, userId) : null;
  }

  async joinedMembers(roomId: string): Promise<string[]> {
    const snap = await this.snapshot(roomId);
    return snap ? snap.members("join") : [];
  }

  async usersSharingRoomsWith(userId: string): Promise<string[]> {
    const users = new Set<string>([userId]);
    for (const roomId of await this.joinedRoomIds(userId)) {
      const snap = await this.snapshot(roomId);
      if (snap) for (const u of snap.members("join")) users.add(u);
    }
    return [...users];
  }

  async eventInRoom(roomId: string, eventId: string): Promise<boolean> {
    return this.repo.eventInRoom(roomId, eventId);
  }
}

function checkEventType(type: string): void {
  if (type.length === 0 || Buffer.byteLength(type) > 255)
    throw invalidParam("Event type must be 1–255 bytes.");
}

/** What a room write touched: the room, and the targets of membership events. */
function roomTouch(roomId: string, events: readonly { pdu: Pdu }[]): Touch {
  const userIds: string[] = [];
  for (const e of events) {
    if (e.pdu.type === "m.room.member" && e.pdu.state_key) userIds.push(e.pdu.state_key);
  }
  return { roomIds: [roomId], userIds, kinds: ["room"] };
}

function eventWrite(
  eventId: string,
  pdu: Pdu,
  text: string,
  prevState: string | null,
  position: number,
  txn: PersistOptions["txn"],
): EventWrite {
  const rel = pdu.content["m.relates_to"] as
    | { rel_type?: unknown; event_id?: unknown; key?: unknown }
    | undefined;
  const relType = rel && typeof rel === "object" ? rel.rel_type : undefined;
  const relTo = rel && typeof rel === "object" && typeof rel.event_id === "string" ? rel.event_id : null;
  const membership =
    pdu.type === "m.room.member" && typeof pdu.content.membership === "string"
      ? pdu.content.membership
      : null;
  return {
    eventId,
    roomId: pdu.room_id,
    position,
    depth: pdu.depth,
    type: pdu.type,
    stateKey: pdu.state_key ?? null,
    sender: pdu.sender,
    ts: pdu.origin_server_ts,
    membership,
    pdu: text,
    prevState,
    txnDeviceId: txn ? txn.deviceId : null,
    txnId: txn ? txn.txnId : null,
    reaction:
      relType === "m.annotation" && relTo && typeof rel?.key === "string"
        ? { relatesTo: relTo, key: rel.key }
        : null,
    edit: relType === "m.replace" && relTo ? { relatesTo: relTo } : null,
    attachments: mxcUrls(pdu.content),
  };
}

function writeAsRow(w: EventWrite): EventRow {
  return {
    event_id: w.eventId,
    room_id: w.roomId,
    stream_position: w.position,
    type: w.type,
    state_key: w.stateKey,
    sender: w.sender,
    membership: w.membership,
    pdu: w.pdu,
    prev_state: w.prevState,
    txn_device_id: w.txnDeviceId,
    txn_id: w.txnId,
    redacted_because: null,
  };
}

/** mxc:// URIs an event references (m.room.message media, thumbnails, avatars, encrypted files). */
function mxcUrls(content: Record<string, unknown>): string[] {
  const out: string[] = [];
  const take = (v: unknown) => {
    if (typeof v === "string" && v.startsWith("mxc://") && v.length <= 512) out.push(v);
  };
  const obj = (v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  take(content.url);
  take(content.avatar_url);
  take(obj(content.file)?.url);
  const info = obj(content.info);
  take(info?.thumbnail_url);
  take(obj(info?.thumbnail_file)?.url);
  return out;
}
