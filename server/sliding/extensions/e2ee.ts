import type { KeyServer } from "../../../crypto/key-server.ts";
import type { ExtensionWindow } from "./types.ts";

export type E2eeResult = {
  device_lists?: { changed: string[]; left: string[] };
  device_one_time_keys_count: Record<string, number>;
  device_unused_fallback_key_types: string[];
};

/**
 * e2ee (MSC3884). Device lists are a delta against `pos`, so a new connection gets none (the SDK
 * then re-fetches every tracked user). The key counts are current state and always present: the
 * SDK reads a missing `signed_curve25519` as zero and a missing fallback list as "unsupported".
 */
export async function e2ee(keys: KeyServer, w: ExtensionWindow): Promise<E2eeResult> {
  const [lists, counts] = await Promise.all([
    w.from === null ? null : keys.deviceListChanges(w.userId, w.from.stream, w.to.stream),
    keys.keyCounts(w.userId, w.deviceId),
  ]);
  return {
    ...(lists ? { device_lists: lists } : {}),
    device_one_time_keys_count: { signed_curve25519: 0, ...counts.counts },
    device_unused_fallback_key_types: counts.unusedFallback,
  };
}
