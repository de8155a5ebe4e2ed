import type { WriteBatcher } from "../../../companion-services/platform/batcher.ts";
import type { TxnKey } from "../caches/txn-ids.ts";
import type { RoomsCore } from "../core.ts";
import type { Pdu } from "../events.ts";
import type { PendingOutbox } from "../publish.ts";
import { roomsWriteBatcher } from "./batcher.ts";
import { eventWrite, roomTouch } from "./event-rows.ts";

/** Events in one statement: each takes up to ~25 bind parameters, PostgreSQL allows 65,535. */
const MAX_STATEMENT_EVENTS = 1000;

export type BatchEvent = {
  eventId: string;
  pdu: Pdu;
  text: string;
  prevState: string | null;
  txn: TxnKey | undefined;
  /** What the event publishes (server/events.ts), given its position. */
  outbox: PendingOutbox | null;
};

/** One room's events, in order (each built on the previous one). */
export type BatchItem = {
  roomId: string;
  events: BatchEvent[];
  /** The room head the events were built on (compare-and-swap). */
  expectedHead: number;
};

/** `written` per event; `positions` ascending, one per event. */
export type BatchResult = { written: boolean[]; stale: boolean; positions: number[] };

/**
 * The common send: events of different rooms gathered into one statement (atomic without a
 * transaction: two round trips with the positions' allocation). An item carries one room's events:
 * one, or several when sends into the room queued up behind its lock (send-queue.ts).
 */
export class GroupCommit {
  private readonly batcher: WriteBatcher<BatchItem, BatchResult>;

  constructor(private readonly core: RoomsCore) {
    this.batcher = roomsWriteBatcher((items) => this.writeBatch(items), {
      weight: (it) => it.events.length,
      maxWeight: MAX_STATEMENT_EVENTS,
    });
  }

  submit(item: BatchItem): Promise<BatchResult> {
    return this.batcher.submit(item);
  }

  private async writeBatch(items: BatchItem[]): Promise<BatchResult[]> {
    const { repo } = this.core;
    const count = items.reduce((n, it) => n + it.events.length, 0);
    const { result } = await this.core.ctx.streams.writeStatement(
      repo.db,
      count,
      async (db, positions, touch) => {
        // Each item's events take consecutive positions, in their order.
        const at: number[][] = [];
        let next = 0;
        for (const it of items) at.push(it.events.map(() => positions[next++]!));
        const writes = items.flatMap((it, i) =>
          it.events.map((e, j) => eventWrite(e.eventId, e.pdu, e.text, e.prevState, at[i]![j]!, e.txn)),
        );
        const txns = items.flatMap((it) =>
          it.events.flatMap((e) => (e.txn ? [{ ...e.txn, eventId: e.eventId, roomId: it.roomId }] : [])),
        );
        // One item per room: the room lock keeps a room's next write out until this one is done.
        const heads = items.map((it, i) => ({
          roomId: it.roomId,
          expected: it.expectedHead,
          next: at[i]![at[i]!.length - 1]!,
        }));
        const outbox = items.flatMap((it, i) =>
          it.events.flatMap((e, j) => e.outbox?.build(at[i]![j]!) ?? []),
        );
        const { written, stale } = await repo.writes.writeEvents(db, writes, { heads, txns, outbox });
        return items.map((it, i) => {
          const ok = it.events.map((e) => written.has(e.eventId));
          const last = at[i]![at[i]!.length - 1]!;
          if (ok.every(Boolean) && !stale.has(it.roomId))
            touch({ ...roomTouch(it.roomId, it.events), at: last });
          return { written: ok, stale: stale.has(it.roomId), positions: at[i]! };
        });
      },
    );
    return result;
  }
}
