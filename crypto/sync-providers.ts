import type { SyncRequest, SyncResponse, SyncStreamProvider } from "../sync/provider.ts";
import type { KeyServer } from "./key-server.ts";

const MAX_REMEMBERED_DEVICES = 100_000;

/**
 * to_device.events: the device's inbox in arrival order, up to the window's end. Messages are
 * deleted only in `acknowledge`, when the device presents a `since` at or past them, so a lost
 * response is redelivered. Every pending message in the window is returned: the sync token has
 * one stream position for everything, so a partial page could not be told apart on the next call
 * (see crypto/README.md).
 */
export class ToDeviceProvider implements SyncStreamProvider {
  readonly name = "to_device";
  /** Per device: the position up to which its inbox was last emptied. */
  private readonly deletedUpTo = new Map<string, number>();
  constructor(private readonly keys: KeyServer) {}

  async fill(req: SyncRequest, response: SyncResponse): Promise<void> {
    const after = req.since?.stream ?? 0;
    // Nothing can be pending at or below a position already handed out (the safe position covers
    // every write under it), so a sync with nothing new skips the query; so does one whose window
    // no to-device write touched the user in.
    if (after >= req.to.stream || (req.changes && !req.changes.forUser(req.userId, "to_device"))) {
      response.to_device = { events: [] };
      return;
    }
    const rows = await this.keys.toDevice.pending(req.userId, req.deviceId, after, req.to.stream);
    response.to_device = {
      events: rows.map((r) => ({ sender: r.sender, type: r.type, content: r.content })),
    };
  }

  /**
   * Deletes what the device has received. Each device's last deletion is remembered: with no
   * to-device write for the user since, there is nothing to delete (one query saved per delta).
   */
  async acknowledge(userId: string, deviceId: string, position: number): Promise<void> {
    const key = `${userId}\u0000${deviceId}`;
    const done = this.deletedUpTo.get(key);
    const changes = this.keys.deps.notifier.changes;
    if (done !== undefined && position <= done) return;
    if (done !== undefined && changes.covers(done) && changes.lastForUser(userId, "to_device") <= done) {
      this.remember(key, position);
      return;
    }
    await this.keys.toDevice.acknowledge(userId, deviceId, position);
    this.remember(key, position);
  }

  private remember(key: string, position: number): void {
    this.deletedUpTo.delete(key);
    this.deletedUpTo.set(key, position);
    if (this.deletedUpTo.size > MAX_REMEMBERED_DEVICES) {
      const oldest = this.deletedUpTo.keys().next().value;
      if (oldest !== undefined) this.deletedUpTo.delete(oldest);
    }
  }
}

/** device_lists.changed/left on incremental syncs. */
export class DeviceListsProvider implements SyncStreamProvider {
  readonly name = "device_lists";
  constructor(private readonly keys: KeyServer) {}

  async fill(req: SyncRequest, response: SyncResponse): Promise<void> {
    if (!req.since) return;
    if (req.changes && !req.changes.forUser(req.userId, "device_list")) {
      response.device_lists = { changed: [], left: [] };
      return;
    }
    response.device_lists = await this.keys.deviceListChanges(req.userId, req.since.stream, req.to.stream);
  }
}

/**
 * device_one_time_keys_count and device_unused_fallback_key_types, in every response: the Rust SDK
 * reads a missing count as zero (and uploads again) and a missing fallback list as "fallback keys
 * unsupported". They are current state, not stream deltas.
 */
export class KeyCountsProvider implements SyncStreamProvider {
  readonly name = "e2ee_key_counts";
  constructor(private readonly keys: KeyServer) {}

  async fill(req: SyncRequest, response: SyncResponse): Promise<void> {
    const s = await this.keys.keyCounts(req.userId, req.deviceId);
    response.device_one_time_keys_count = s.counts;
    response.device_unused_fallback_key_types = s.unusedFallback;
  }
}
