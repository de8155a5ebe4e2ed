import { forbidden, MatrixError } from "../../../companion-services/platform/errors.ts";
import type { TxnKey } from "../caches/txn-ids.ts";
import type { RoomsCore } from "../core.ts";
import type { Draft } from "../draft.ts";
import type { StoredEvent } from "../events.ts";
import { sendBatchSize, staleWrites } from "../metrics.ts";
import { outboxRowsFor } from "../publish.ts";
import { type BuiltEvent, buildEach } from "./build.ts";
import { eventWrite, writeAsRow } from "./event-rows.ts";
import type { GroupCommit } from "./group-commit.ts";

/** Sends of one room written together at most (one statement, one chain of prev_events). */
const MAX_SENDS = 100;

/** A plain send: one non-state, non-redaction event, with its own txn and its own answer. */
type Send = {
  draft: Draft;
  txn: TxnKey | undefined;
  resolve: (eventId: string) => void;
  reject: (err: unknown) => void;
};

/** Sends of a room waiting for its lock; closed once it has it (or is full). */
type Batch = { sends: Send[] };

/**
 * Plain sends into a room that queue up behind its lock are written together: the lock's next
 * holder builds all of them in arrival order on the snapshot (each event's prev_events the one
 * before) and commits them in one statement of the group commit, so sends into one busy room share
 * round trips as sends into different rooms already do. Each send keeps its own answer: a refused
 * draft is left out of the chain and its caller gets its error; whatever this path does not settle
 * (a refusal that may come from stale state, a room moved by another replica, a txnId already
 * stored) goes through the ordinary write path afterwards, one send at a time.
 */
export class SendQueue {
  /** Per room, the batch still taking sends: it is queued on the room's lock and has not run. */
  private readonly open = new Map<string, Batch>();

  constructor(
    private readonly core: RoomsCore,
    private readonly group: GroupCommit,
    /** The ordinary write path of one send (RoomWriter.persist), run outside the room's lock. */
    private readonly single: (roomId: string, draft: Draft, txn: TxnKey | undefined) => Promise<string>,
  ) {}

  send(roomId: string, draft: Draft, txn: TxnKey | undefined): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let batch = this.open.get(roomId);
      if (!batch) {
        const b: Batch = { sends: [] };
        batch = b;
        this.open.set(roomId, b);
        this.core.snapshots.locks
          .run(roomId, () => {
            if (this.open.get(roomId) === b) this.open.delete(roomId);
            return this.write(roomId, b.sends);
          })
          .then(
            (rest) => {
              for (const s of rest) this.single(roomId, s.draft, s.txn).then(s.resolve, s.reject);
            },
            (err: unknown) => {
              // Settled sends ignore this; the others had no answer yet.
              for (const s of b.sends) s.reject(err);
            },
          );
      }
      batch.sends.push({ draft, txn, resolve, reject });
      if (batch.sends.length >= MAX_SENDS) this.open.delete(roomId);
    });
  }

  /**
   * Another write of the room is about to queue on its lock: plain sends arriving after it go
   * behind it, so the room's writes keep their arrival order.
   */
  close(roomId: string): void {
    this.open.delete(roomId);
  }

  /**
   * Under the room's lock: builds and commits `sends`, answering those it settles; returns the
   * ones left for the ordinary path.
   */
  private async write(roomId: string, sends: Send[]): Promise<Send[]> {
    const { core } = this;
    sendBatchSize.observe(sends.length);
    const key = await core.signingKey();
    const snap = await core.snapshots.get(roomId);
    if (!snap) {
      for (const s of sends) s.reject(forbidden("You are not in this room."));
      return [];
    }
    const rest: Send[] = [];
    // TxnIdCache shares concurrent requests of one txnId, so this is only a safeguard: a second
    // event with the txnId would not be written and would leave a hole in the chain.
    const txns = new Set<string>();
    const todo: Send[] = [];
    for (const s of sends) {
      const k = s.txn && `${s.txn.userId}|${s.txn.deviceId}|${s.txn.scope}|${s.txn.txnId}`;
      if (k && txns.has(k)) rest.push(s);
      else {
        if (k) txns.add(k);
        todo.push(s);
      }
    }
    const now = Date.now();
    const results = buildEach(
      roomId,
      snap,
      todo.map((s) => s.draft),
      core.serverName,
      key,
      now,
    );
    const ok: { send: Send; built: BuiltEvent }[] = [];
    results.forEach((r, i) => {
      const s = todo[i]!;
      if (!("error" in r)) ok.push({ send: s, built: r });
      // Refused on cached state: the ordinary path decides again if another replica moved the room.
      else if (r.error instanceof MatrixError && r.error.status === 403) rest.push(s);
      else s.reject(r.error);
    });
    if (ok.length === 0) return rest;
    const built = ok.map((o) => o.built);
    const published = await outboxRowsFor(snap, built, core.pushVerdict, (u) => core.ignoredBy(u));

    // Until the events are in the caches, readers must not trust them for this room (see inFlight).
    snap.inFlight++;
    let events: StoredEvent[];
    try {
      const res = await this.group.submit({
        roomId,
        expectedHead: snap.lastPosition,
        events: ok.map((o, i) => ({
          eventId: o.built.eventId,
          pdu: o.built.pdu,
          text: o.built.text,
          prevState: o.built.prevState,
          txn: o.send.txn,
          outbox: published[i] ?? null,
        })),
      });
      if (res.stale || !res.written.every(Boolean)) {
        // Moved by another replica, or a txnId already stored (then nothing of the room is written:
        // see writeEvents). Some written but not all cannot happen; if it did, the cached chain
        // would be wrong, so the room is reloaded either way.
        core.invalidateRoom(roomId);
        if (res.stale) staleWrites.inc();
        ok.forEach((o, i) => {
          if (!res.stale && res.written[i]) o.send.resolve(o.built.eventId);
          else rest.push(o.send);
        });
        if (!res.stale && res.written.some(Boolean)) core.ctx.outboxWritten();
        return rest;
      }
      events = built.map((b, i) => ({ eventId: b.eventId, pdu: b.pdu, position: res.positions[i]! }));
      core.timelines.append(
        roomId,
        snap.lastPosition,
        ok.map((o, i) =>
          writeAsRow(
            eventWrite(
              o.built.eventId,
              o.built.pdu,
              o.built.text,
              o.built.prevState,
              res.positions[i]!,
              o.send.txn,
            ),
          ),
        ),
      );
      snap.apply(events);
    } finally {
      snap.inFlight--;
    }
    // Their published events are committed: the outbox processor can take them now.
    core.ctx.outboxWritten();
    for (const o of ok) o.send.resolve(o.built.eventId);
    return rest;
  }
}
