import { invalidParam } from "../../../companion-services/platform/errors.ts";
import type { KeyServer } from "../../../crypto/key-server.ts";
import type { ExtensionsRequest, SlidingSyncBody } from "../schema.ts";
import type { ExtensionWindow } from "./types.ts";

/** Synapse's cap on one response's to-device messages, whatever `limit` asks for. */
export const MAX_TO_DEVICE = 100;

type ToDeviceRequest = NonNullable<ExtensionsRequest["to_device"]>;
type ToDeviceEvent = { sender: string; type: string; content: unknown };
export type ToDeviceResult = { next_batch: string; events: ToDeviceEvent[] };

/**
 * Nova's own field in the to_device request: deletes only up to it, not up to `since`. The
 * WebSocket (sync/ws/sliding.ts) moves `since` on with every push, before the client confirmed
 * it received the messages; the client's `sliding_ack` is what may delete them.
 */
export const ACKNOWLEDGED_FIELD = "org.nova.acknowledged";

/** The body with the WebSocket's acknowledgement in its to_device request, when it has one. */
export function withAcknowledged(body: SlidingSyncBody, acknowledged: string): SlidingSyncBody {
  const toDevice = body.extensions?.to_device;
  if (!toDevice) return body;
  return {
    ...body,
    extensions: { ...body.extensions, to_device: { ...toDevice, [ACKNOWLEDGED_FIELD]: acknowledged } },
  };
}

/**
 * to_device (MSC3885): its own cursor, `since`, which the client keeps across `pos` resets, so it
 * never reads `w.from`. Presenting `since` acknowledges (deletes) everything up to it; messages
 * after it follow in arrival order, a page at a time, and `next_batch` is where the page stopped.
 */
export async function toDevice(
  keys: KeyServer,
  req: ToDeviceRequest,
  w: ExtensionWindow,
): Promise<ToDeviceResult> {
  const since = parseSince(req.since);
  const ack = req[ACKNOWLEDGED_FIELD];
  const acked = typeof ack === "string" ? Math.min(parseSince(ack), since) : since;
  const upTo = w.to.stream;
  if (since > upTo) {
    // A cursor from the future (a restored database, another server): nothing in the inbox can be
    // shown as after it, and deleting past this response's position could drop messages still to
    // come, so the inbox is acknowledged only as far as this response reaches.
    await keys.toDevice.acknowledge(w.userId, w.deviceId, Math.min(upTo, acked));
    return { next_batch: String(since), events: [] };
  }
  if (acked > 0) await keys.toDevice.acknowledge(w.userId, w.deviceId, acked);
  const limit = Math.min(req.limit ?? MAX_TO_DEVICE, MAX_TO_DEVICE);
  // One more than the page tells whether the window has more. A send stamps all its messages with
  // one position (/sendToDevice gives a device one of them, but the store allows more), and the
  // next page resumes after a position, so a page ends on a position boundary.
  let rows = await keys.toDevice.pending(w.userId, w.deviceId, since, upTo, limit + 1);
  let next = upTo;
  if (rows.length > limit) {
    const cut = rows[limit]!.position;
    const whole = rows.filter((r) => r.position < cut);
    if (whole.length > 0) {
      rows = whole;
      next = whole[whole.length - 1]!.position;
    } else {
      // A single send larger than the page: it goes whole, past the limit.
      rows = await keys.toDevice.pending(w.userId, w.deviceId, since, cut);
      next = cut;
    }
  }
  return {
    next_batch: String(next),
    events: rows.map((r) => ({ sender: r.sender, type: r.type, content: r.content })),
  };
}

function parseSince(since: string | null | undefined): number {
  if (since === null || since === undefined) return 0;
  if (!/^\d{1,15}$/.test(since)) throw invalidParam(`to_device.since is not a position: ${since}`);
  return Number(since);
}
