import type { ReceiptsService } from "../../client/receipts.ts";
import { bySince } from "./scope.ts";
import type { ExtensionWindow } from "./types.ts";

type ReceiptEvent = { type: "m.receipt"; content: Record<string, unknown> };
export type ReceiptsResult = { rooms: Record<string, ReceiptEvent> };

/**
 * receipts (MSC3960). A room new to the connection gets every current receipt of the room (a
 * superset of what MSC3960 asks for: those on the returned timeline plus the user's own, which
 * Element X's badges depend on); a room the connection has gets the receipts changed since. Other
 * users' private receipts never leave ReceiptsService.
 */
export async function receipts(
  service: ReceiptsService,
  rooms: readonly string[],
  w: ExtensionWindow,
): Promise<ReceiptsResult> {
  const { fresh, since } = bySince(rooms, w, "stream");
  const reads = [service.events(w.userId, fresh, null, w.to.stream)];
  for (const [from, ids] of since) {
    if (from < w.to.stream) reads.push(service.events(w.userId, ids, from, w.to.stream));
  }
  const out: Record<string, ReceiptEvent> = {};
  for (const byRoom of await Promise.all(reads)) {
    for (const [roomId, content] of byRoom) out[roomId] = { type: "m.receipt", content };
  }
  return { rooms: out };
}
