import type { Transaction } from "kysely";
import { forbidden, MatrixError } from "../../../companion-services/platform/errors.ts";
import type { Touch } from "../../../sync/changes.ts";
import type { TxnKey } from "../caches/txn-ids.ts";
import { toClientEvent } from "../client-events.ts";
import type { RoomsCore } from "../core.ts";
import type { Draft } from "../draft.ts";
import type { SigningKey } from "../event-hashing.ts";
import type { Pdu, StoredEvent } from "../events.ts";
import { staleWrites } from "../metrics.ts";
import { outboxRowsFor } from "../publish.ts";
import { redactEvent } from "../redaction.ts";
import { RoomSnapshot } from "../room-snapshot.ts";
import type { RoomVersion } from "../room-versions.ts";
import type { EventRow, EventWrite, RedactionWrite } from "../storage/rows.ts";
import type { RoomsTables } from "../tables.ts";
import { buildEvents } from "./build.ts";
import { eventWrite, roomTouch, writeAsRow } from "./event-rows.ts";
import { GroupCommit } from "./group-commit.ts";
import { SendQueue } from "./send-queue.ts";

/** Tries of one write when other replicas keep moving the room's head. */
const MAX_WRITE_ATTEMPTS = 5;

export type Plan = {
  drafts: Draft[];
  /** An identical event already exists: return it, write nothing. */
  existing?: string;
  /** The event a redaction in `drafts` (first draft) applies to. */
  redactTarget?: EventRow;
  /** More writes in the same transaction (aliases, directory visibility). */
  extra?: (trx: Transaction<RoomsTables>) => Promise<void>;
};

export type PersistOptions = {
  newRoom?: { version: RoomVersion; creator: string; isPublic: boolean };
  txn?: TxnKey;
  /** Error when the room is unknown: 403 by default (spec: not a member), 404 for join. */
  missing?: () => MatrixError;
};

type WriteOutcome = {
  events: StoredEvent[];
  position: number;
  eventIds: string[];
  snap: RoomSnapshot;
  prevMembers: (string | null)[];
};

export type PersistResult = { events: StoredEvent[]; position: number; eventIds: string[] };

type Outer = { trx: Transaction<RoomsTables>; touch: (t: Touch) => void };

/**
 * The write path: builds, authorises, signs and stores events under the room's lock, in one
 * `streams.write` transaction (one statement for events, state, membership and indexes) or the
 * group commit, then brings the caches up to date and emits membershipChanged.
 */
export class RoomWriter {
  private readonly group: GroupCommit;
  /** Plain sends, written together when they queue up behind a room's lock. */
  readonly sends: SendQueue;

  constructor(private readonly core: RoomsCore) {
    this.group = new GroupCommit(core);
    this.sends = new SendQueue(core, this.group, async (roomId, draft, txn) => {
      const r = await this.persist(roomId, () => ({ drafts: [draft] }), { txn });
      return r.eventIds[0]!;
    });
  }

  async persist(
    roomId: string,
    plan: (snap: RoomSnapshot) => Promise<Plan> | Plan,
    opts: PersistOptions = {},
  ): Promise<PersistResult> {
    const { ctx, snapshots } = this.core;
    const key = await this.core.signingKey();
    this.sends.close(roomId);
    const outcome = await snapshots.locks.run(roomId, async () => {
      // Another replica may have moved the room on: then reload it and build the events again.
      for (let attempt = 1; ; attempt++) {
        const seen = { head: -1 };
        let r: WriteOutcome | "stale";
        try {
          r = await this.attemptWrite(roomId, plan, opts, key, seen, attempt > 1);
        } catch (err) {
          // Refused against cached state: if the room moved on elsewhere, decide again on fresh state.
          if (!(err instanceof MatrixError && err.status === 403) || opts.newRoom) throw err;
          if (
            seen.head < 0 ||
            attempt >= MAX_WRITE_ATTEMPTS ||
            !(await snapshots.headMoved(roomId, seen.head))
          )
            throw err;
          r = "stale";
        }
        if (r !== "stale") return r;
        staleWrites.inc();
        this.core.invalidateRoom(roomId);
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new MatrixError(503, "M_UNKNOWN", "The room is changing too fast; try again.");
        }
      }
    });

    if (outcome.events.length > 0) {
      // Their published events are committed: the outbox processor can take them now.
      ctx.outboxWritten();
      for (let i = 0; i < outcome.events.length; i++) {
        const e = outcome.events[i]!;
        if (e.pdu.type === "m.room.guest_access" && e.pdu.state_key === "") {
          const guestAccess =
            typeof e.pdu.content.guest_access === "string" ? e.pdu.content.guest_access : null;
          await ctx.hooks.emit("guestAccessChanged", { roomId, guestAccess }).catch((err: unknown) => {
            ctx.logger.error({ err, roomId }, "guestAccessChanged listener failed");
          });
          continue;
        }
        if (e.pdu.type !== "m.room.member" || e.pdu.state_key === undefined) continue;
        const change = {
          roomId,
          userId: e.pdu.state_key,
          membership: String(e.pdu.content.membership),
          prevMembership: outcome.prevMembers[i] ?? null,
          position: e.position,
        };
        // The event is committed: a failing listener is logged, not turned into an error for the client.
        await ctx.hooks.emit("membershipChanged", change).catch((err: unknown) => {
          ctx.logger.error({ err, ...change }, "membershipChanged listener failed");
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
    const { ctx, repo, snapshots } = this.core;
    const missing = opts.missing ?? (() => forbidden("You are not in this room."));
    if (locked) {
      // Pessimistic retry: hold the room's row lock from loading its state to committing, so no
      // other process can move the room in between. Caches are updated before the commit here
      // (ahead is safe for readers, see writeWith) and dropped if the transaction fails.
      const touched = { users: [] as string[] };
      try {
        const { result } = await ctx.streams.write(repo.db, async (trx, _position, touch) => {
          await repo.conversations.lockRoom(trx, roomId);
          const snap = await snapshots.loadFrom(trx, roomId);
          if (!snap) throw missing();
          return this.writeWith(roomId, snap, plan, opts, key, seen, { trx, touch }, touched);
        });
        return result;
      } catch (err) {
        this.core.invalidateRoom(roomId);
        for (const u of touched.users) this.core.users.invalidate(u);
        throw err;
      }
    }
    const snap = opts.newRoom
      ? new RoomSnapshot(roomId, opts.newRoom.version, new Map(), null, 0, 0)
      : await snapshots.get(roomId);
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
    outer: Outer | null,
    touched: { users: string[] },
  ): Promise<WriteOutcome | "stale"> {
    const { ctx, repo, users } = this.core;
    seen.head = snap.lastPosition;
    const p = await plan(snap);
    if (p.existing)
      return { events: [] as StoredEvent[], position: 0, eventIds: [p.existing], snap, prevMembers: [] };

    const now = Date.now();
    const built = buildEvents(roomId, snap, p.drafts, this.core.serverName, key, now);
    if (built.length === 0) return { events: [], position: 0, eventIds: [], snap, prevMembers: [] };
    // Push verdicts are decided before the write so the published event commits with it.
    const published = await outboxRowsFor(snap, built, this.core.pushVerdict, (u) => this.core.ignoredBy(u));

    // Until this write's effects are in the caches, readers must not trust them for this room or
    // for the members it changes: their position may already be visible (see inFlight, UserRoomsCache.writing).
    const targets = built.flatMap((b) =>
      b.pdu.type === "m.room.member" && b.pdu.state_key !== undefined ? [b.pdu.state_key] : [],
    );
    touched.users = targets;
    snap.inFlight++;
    users.writing(targets);
    try {
      const txn = opts.txn;
      // A lone event (the common send) joins the group commit; multi-event writes run on their own.
      const batchable = built.length === 1 && !opts.newRoom && !p.redactTarget && !p.extra && !outer;
      const b0 = built[0]!;
      const writeTx = async (
        trx: Transaction<RoomsTables>,
        positions: number[],
        touch: (t: Touch) => void,
      ) => {
        if (opts.newRoom) {
          await repo.conversations.insertConversation(trx, {
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
        const { written, stale } = await repo.writes.writeEvents(trx, writes, {
          heads: [{ roomId, expected: snap.lastPosition, next: positions[positions.length - 1]! }],
          txns: txn ? [{ ...txn, eventId: b0.eventId, roomId }] : [],
          redaction,
          outbox: published.flatMap((o, i) => o.build(positions[i]!)),
        });
        const ok = written.has(b0.eventId) && stale.size === 0;
        if (ok) touch({ ...roomTouch(roomId, built), at: positions[positions.length - 1]! });
        return { written: written.has(b0.eventId), stale: stale.size > 0, positions, redaction };
      };
      const { result } = batchable
        ? {
            result: await this.group
              .submit({
                roomId,
                expectedHead: snap.lastPosition,
                events: [
                  {
                    eventId: b0.eventId,
                    pdu: b0.pdu,
                    text: b0.text,
                    prevState: b0.prevState,
                    txn,
                    outbox: published[0] ?? null,
                  },
                ],
              })
              .then((r) => ({
                written: r.written[0] === true,
                stale: r.stale,
                positions: r.positions,
                redaction: undefined,
              })),
          }
        : outer
          ? {
              result: await writeTx(outer.trx, await this.allocateMore(outer.trx, built.length), outer.touch),
            }
          : await ctx.streams.write(repo.db, async (trx, first, touch) =>
              writeTx(
                trx,
                [first, ...(built.length > 1 ? await this.allocateMore(trx, built.length - 1) : [])],
                touch,
              ),
            );
      if (result.stale) return "stale";
      if (!result.written) {
        // Same (device, txnId) already stored by an earlier request: return its event.
        const existing = await repo.writes.txnEventId(txn!.userId, txn!.deviceId, txn!.scope, txn!.txnId);
        return { events: [], position: 0, eventIds: existing ? [existing] : [], snap, prevMembers: [] };
      }
      const events = built.map((b, i) => ({
        eventId: b.eventId,
        pdu: b.pdu,
        position: result.positions[i]!,
      }));
      if (result.redaction) this.core.timelines.drop(roomId);
      else {
        this.core.timelines.append(
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
        users.note(e.pdu.state_key, {
          room_id: roomId,
          membership: m,
          event_id: e.eventId,
          stream_position: e.position,
          forgotten: false,
        });
      }
      if (opts.newRoom || outer) this.core.snapshots.put(roomId, snap);
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
      users.written(targets);
    }
  }

  /**
   * Extra stream positions for a multi-event write, in one round trip. The write's first position
   * stays in flight until commit, so readers cannot pass these higher ones before they are visible;
   * telling the stream about the highest keeps the safe position from stopping short of them.
   */
  private async allocateMore(trx: Transaction<RoomsTables>, n: number): Promise<number[]> {
    const ps = await this.core.repo.writes.nextPositions(trx, n);
    this.core.ctx.streams.observeRemote(ps[ps.length - 1]!);
    return ps;
  }
}
