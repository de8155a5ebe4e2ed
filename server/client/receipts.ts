import { appendEvents, type NewEvent } from "../../companion-services/platform/outbox/writer.ts";
import type { StreamKind } from "../../sync/changes.ts";
import type { StreamPositions } from "../../sync/stream-positions.ts";
import { messagingEvent } from "../events.ts";
import { AccountDataRepository } from "./account-data.repository.ts";
import { type ReceiptRow, ReceiptsRepository } from "./receipts.repository.ts";
import type { ClientDb } from "./tables.ts";

export type ReceiptType = "m.read" | "m.read.private";

export type ReadMarkers = {
  fullyRead?: string;
  receipts: { type: ReceiptType; eventId: string; threadId?: string }[];
};

/**
 * Read receipts and the fully-read marker. A batch (read_markers sends up to three) commits in one
 * transaction at one stream position. Public receipts wake everyone in the room; private ones and
 * the fully-read marker wake only their owner.
 */
export class ReceiptsService {
  readonly repo: ReceiptsRepository;
  private readonly accountData: AccountDataRepository;

  constructor(
    private readonly db: ClientDb,
    private readonly streams: StreamPositions,
    /** Stream position of an event in a room (null if unknown): markers only move forward. */
    private readonly positionOf: ((roomId: string, eventId: string) => Promise<number | null>) | null = null,
  ) {
    this.repo = new ReceiptsRepository(db);
    this.accountData = new AccountDataRepository(db);
  }

  async mark(roomId: string, userId: string, requested: ReadMarkers): Promise<void> {
    const markers = await this.forwardOnly(roomId, userId, requested);
    if (!markers.fullyRead && markers.receipts.length === 0) return;
    const ts = Date.now();
    const isPublic = markers.receipts.some((r) => r.type === "m.read");
    // Published with the receipt (server/events.ts) so push badges drop when the user reads.
    const published: NewEvent[] = [];
    for (const r of markers.receipts) {
      const position = this.positionOf ? await this.positionOf(roomId, r.eventId) : null;
      if (position === null) continue;
      published.push(
        messagingEvent("room.receipt_moved", {
          room_id: roomId,
          user_id: userId,
          event_id: r.eventId,
          receipt_type: r.type,
          thread_id: r.threadId ?? "",
          stream_position: position,
        }),
      );
    }
    await this.streams.write(this.db, async (db, pos, touch) => {
      for (const r of markers.receipts) {
        await this.repo.upsert(db, {
          room_id: roomId,
          user_id: userId,
          receipt_type: r.type,
          thread_id: r.threadId ?? "",
          event_id: r.eventId,
          ts,
          stream_pos: pos,
        });
      }
      if (markers.fullyRead) {
        await this.accountData.upsert(db, {
          userId,
          roomId,
          type: "m.fully_read",
          content: { event_id: markers.fullyRead },
          position: pos,
        });
      }
      await appendEvents(db, "messaging", published);
      const kinds: StreamKind[] = [];
      if (markers.receipts.length > 0) kinds.push("receipt");
      if (markers.fullyRead) kinds.push("account_data");
      touch(isPublic ? { roomIds: [roomId], userIds: [userId], kinds } : { userIds: [userId], kinds });
    });
  }

  /**
   * Drops markers that would move a receipt (same type and thread) or the fully-read marker back to
   * an earlier event, as Synapse does: clients may send them out of order.
   */
  private async forwardOnly(roomId: string, userId: string, markers: ReadMarkers): Promise<ReadMarkers> {
    const positionOf = this.positionOf;
    if (!positionOf) return markers;
    const advances = async (current: string | undefined, next: string) => {
      if (!current || current === next) return current !== next;
      const [a, b] = await Promise.all([positionOf(roomId, current), positionOf(roomId, next)]);
      return a === null || b === null || b > a;
    };
    const existing = await this.repo.userReceipts(roomId, userId);
    const receipts: ReadMarkers["receipts"] = [];
    for (const r of markers.receipts) {
      const cur = existing.find((e) => e.receipt_type === r.type && e.thread_id === (r.threadId ?? ""));
      if (await advances(cur?.event_id, r.eventId)) receipts.push(r);
    }
    let fullyRead = markers.fullyRead;
    if (fullyRead) {
      const cur = (await this.accountData.get(userId, roomId, "m.fully_read"))?.content as
        | { event_id?: unknown }
        | undefined;
      if (!(await advances(typeof cur?.event_id === "string" ? cur.event_id : undefined, fullyRead))) {
        fullyRead = undefined;
      }
    }
    return { fullyRead, receipts };
  }

  /**
   * The m.receipt events for these rooms in (from, to], as sync delivers them: private receipts
   * only to their owner.
   */
  async events(
    viewer: string,
    roomIds: string[],
    from: number | null,
    to: number,
  ): Promise<Map<string, Record<string, unknown>>> {
    const rows = await this.repo.changed(roomIds, from, to);
    const byRoom = new Map<string, Record<string, unknown>>();
    for (const r of rows) {
      if (r.receipt_type === "m.read.private" && r.user_id !== viewer) continue;
      byRoom.set(r.room_id, addReceipt(byRoom.get(r.room_id) ?? {}, r));
    }
    return byRoom;
  }
}

/** Adds a row to an m.receipt content: {eventId: {type: {userId: {ts, thread_id?}}}}. */
function addReceipt(content: Record<string, unknown>, r: ReceiptRow): Record<string, unknown> {
  content[r.event_id] ??= {};
  const byEvent = content[r.event_id] as Record<string, Record<string, unknown>>;
  byEvent[r.receipt_type] ??= {};
  const byType = byEvent[r.receipt_type]!;
  byType[r.user_id] = { ts: Number(r.ts), ...(r.thread_id ? { thread_id: r.thread_id } : {}) };
  return content;
}
