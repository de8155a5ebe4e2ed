import { MatrixError, tooLarge } from "../companion-services/platform/errors.ts";
import { mapEntry } from "./collections.ts";
import type { KeyServer } from "./key-server.ts";
import { userIdSchema } from "./schemas.ts";
import type { JsonObject } from "./tables.ts";
import type { QueuedMessage } from "./to-device.repository.ts";

/** Synapse's per-message limit: js-sdk does not retry M_TOO_LARGE. */
export const MAX_TO_DEVICE_CONTENT = 65_536;
/** Target devices per request (the Rust SDK sends at most 250; fan-out tools more). */
export const MAX_TO_DEVICE_TARGETS = 10_000;
/** How long a txnId is remembered (Synapse keeps them about 30 minutes; a day is safer). */
export const TXN_TTL_MS = 24 * 3600_000;

/**
 * PUT /sendToDevice: validates every message first (nothing is queued if one is bad), expands `*`
 * to the target's current devices, drops unknown devices and remote users, and queues one message
 * per device at one stream position, exactly once per (sender device, event type, txnId).
 */
export async function sendToDevice(
  keys: KeyServer,
  sender: { userId: string; deviceId: string },
  eventType: string,
  txnId: string,
  messages: Record<string, Record<string, Record<string, unknown>>>,
): Promise<void> {
  let targets = 0;
  const local: string[] = [];
  for (const [userId, byDevice] of Object.entries(messages)) {
    if (!userIdSchema.safeParse(userId).success) {
      throw new MatrixError(400, "M_INVALID_PARAM", `invalid user id in messages: ${userId}`);
    }
    for (const [deviceId, content] of Object.entries(byDevice)) {
      if (deviceId.length === 0 || deviceId.length > 255) {
        throw new MatrixError(400, "M_INVALID_PARAM", "invalid device id in messages");
      }
      if (Buffer.byteLength(JSON.stringify(content)) > MAX_TO_DEVICE_CONTENT) {
        throw tooLarge(`to-device content for ${userId}/${deviceId} exceeds ${MAX_TO_DEVICE_CONTENT} bytes`);
      }
      targets++;
    }
    // Federation is not available: messages for remote users have nowhere to go.
    if (keys.isLocal(userId)) local.push(userId);
  }
  if (targets > MAX_TO_DEVICE_TARGETS) {
    throw new MatrixError(400, "M_INVALID_PARAM", `at most ${MAX_TO_DEVICE_TARGETS} messages per request`);
  }
  const txnKey = `${eventType}/${txnId}`;
  await keys.deps.streams.write(keys.deps.db, async (db, pos, touch) => {
    if (!(await keys.toDevice.claimTxn(db, sender.userId, sender.deviceId, txnKey))) return [];
    const existing = await keys.devices.deviceIds(local, db);
    const devicesOf = new Map<string, string[]>();
    for (const d of existing) {
      mapEntry(devicesOf, d.userId, () => [] as string[]).push(d.deviceId);
    }
    const out: QueuedMessage[] = [];
    for (const userId of local) {
      const byDevice = messages[userId]!;
      const have = devicesOf.get(userId) ?? [];
      const wildcard = byDevice["*"] as JsonObject | undefined;
      for (const deviceId of have) {
        // A message for the device itself wins over `*`: one message per device per request.
        const content = (byDevice[deviceId] as JsonObject | undefined) ?? wildcard;
        if (content) out.push({ userId, deviceId, content });
      }
    }
    await keys.toDevice.enqueue(db, pos, sender.userId, eventType, out);
    if (out.length > 0) touch({ userIds: new Set(out.map((m) => m.userId)), kinds: ["to_device"] });
    return out;
  });
}
