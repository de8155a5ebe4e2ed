import type { WriteBatcher } from "../../../companion-services/platform/batcher.ts";
import type { TxnKey } from "../caches/txn-ids.ts";
import type { RoomsCore } from "../core.ts";
import type { Pdu } from "../events.ts";
import type { PendingOutbox } from "../publish.ts";
import { roomsWriteBatcher } from "./batcher.ts";
import { eventWrite, roomTouch } from "./event-rows.ts";

export type BatchItem = {
  eventId: string;
  pdu: Pdu;
  text: string;
  prevState: string | null;
  txn: TxnKey | undefined;
  /** The room head the event was built on (compare-and-swap). */
  expectedHead: number;
  /** What the event publishes (server/events.ts), given its position. */
  outbox: PendingOutbox | null;
};

export type BatchResult = { written: boolean; stale: boolean; position: number };

/**
 * The common send: single events of different rooms gathered into one statement (atomic without a
 * transaction: two round trips with the positions' allocation).
 */
export class GroupCommit {
  private readonly batcher: WriteBatcher<BatchItem, BatchResult>;

  constructor(private readonly core: RoomsCore) {
    this.batcher = roomsWriteBatcher((items) => this.writeBatch(items));
  }

  submit(item: BatchItem): Promise<BatchResult> {
    return this.batcher.submit(item);
  }

  private async writeBatch(items: BatchItem[]): Promise<BatchResult[]> {
    const { repo } = this.core;
    const { result } = await this.core.ctx.streams.writeStatement(
      repo.db,
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
        const outbox = items.flatMap((it, i) => it.outbox?.build(positions[i]!) ?? []);
        const { written, stale } = await repo.writes.writeEvents(db, writes, { heads, txns, outbox });
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
}
