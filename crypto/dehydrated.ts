import type { Kysely } from "kysely";
import type { z } from "zod";
import { forbidden, MatrixError, notFound } from "../companion-services/platform/errors.ts";
import { DehydratedRepository } from "./dehydrated.repository.ts";
import type { KeyServer } from "./key-server.ts";
import { validateDeviceKeys, validateKeyMap } from "./key-validation.ts";
import type { dehydratedDeviceBody } from "./schemas.ts";
import type { CryptoTables, JsonObject } from "./tables.ts";
import type { ToDeviceEvent } from "./to-device.repository.ts";

/** Events per page of GET /dehydrated_device/{id}/events (Synapse pages by about 100). */
export const DEHYDRATED_PAGE = 100;

/**
 * Dehydrated devices (MSC3814): one per user, an opaque client-encrypted pickle plus ordinary
 * device keys, one-time and fallback keys, so others can claim keys and send it room keys while
 * its owner is offline. Replacing it removes the previous one with its keys and inbox atomically.
 */
export class DehydratedDevices {
  readonly repo: DehydratedRepository;

  constructor(
    private readonly keys: KeyServer,
    db: Kysely<CryptoTables>,
  ) {
    this.repo = new DehydratedRepository(db);
  }

  async put(userId: string, body: z.infer<typeof dehydratedDeviceBody>): Promise<{ device_id: string }> {
    const deviceId = body.device_id;
    const { stored, signer } = validateDeviceKeys(body.device_keys, userId, deviceId);
    const otks = validateKeyMap(body.one_time_keys ?? {}, userId, deviceId, signer, "one-time key");
    const fallbacks = validateKeyMap(body.fallback_keys ?? {}, userId, deviceId, signer, "fallback key");
    const clash = await this.keys.devices.get(userId, deviceId);
    if (clash && !clash.dehydrated) {
      throw new MatrixError(400, "M_INVALID_PARAM", "device_id is already used by a logged-in device");
    }
    await this.keys.writeWithChanges(async (db) => {
      const previous = await this.repo.getForUpdate(db, userId);
      if (previous) await this.keys.removeDevice(db, userId, previous.deviceId);
      if (clash) await this.keys.removeDevice(db, userId, deviceId);
      await this.keys.devices.ensure(db, {
        userId,
        deviceId,
        displayName: body.initial_device_display_name ?? null,
        dehydrated: true,
      });
      await this.keys.devices.setKeys(db, userId, deviceId, stored);
      await this.keys.storeOneTimeKeys(db, userId, deviceId, otks);
      await this.keys.storeFallbackKeys(db, userId, deviceId, fallbacks);
      await this.repo.put(db, userId, deviceId, body.device_data);
      return { result: undefined, changed: [userId] };
    });
    return { device_id: deviceId };
  }

  async get(userId: string): Promise<{ device_id: string; device_data: JsonObject }> {
    const d = await this.repo.get(userId);
    if (!d) throw notFound("No dehydrated device");
    return { device_id: d.deviceId, device_data: d.deviceData };
  }

  async delete(userId: string): Promise<{ device_id: string }> {
    const deviceId = await this.keys.writeWithChanges(async (db) => {
      const d = await this.repo.getForUpdate(db, userId);
      if (!d) throw notFound("No dehydrated device");
      await this.keys.removeDevice(db, userId, d.deviceId);
      await this.repo.delete(db, userId);
      return { result: d.deviceId, changed: [userId] };
    });
    return { device_id: deviceId };
  }

  /**
   * To-device events queued for the dehydrated device after `from`. Reading does not delete them;
   * `next_batch` is present only when more may follow (js-sdk loops while it is set).
   */
  async events(
    userId: string,
    deviceId: string,
    from: string | null,
  ): Promise<{ events: ToDeviceEvent[]; next_batch?: string }> {
    const p = await this.page(userId, deviceId, from);
    return p.more ? { events: p.events, next_batch: p.last! } : { events: p.events };
  }

  /** One page of events after `from`, whether more follow, and the position of the last one. */
  async page(
    userId: string,
    deviceId: string,
    from: string | null,
  ): Promise<{ events: ToDeviceEvent[]; more: boolean; last: string | null }> {
    const d = await this.repo.get(userId);
    if (!d || d.deviceId !== deviceId) throw forbidden("Not your dehydrated device");
    let after = 0;
    if (from) {
      if (!/^\d{1,15}$/.test(from)) throw new MatrixError(400, "M_INVALID_PARAM", "invalid next_batch");
      after = Number(from);
    }
    const rows = await this.keys.toDevice.pending(
      userId,
      deviceId,
      after,
      Number.MAX_SAFE_INTEGER,
      DEHYDRATED_PAGE + 1,
    );
    const page = rows.slice(0, DEHYDRATED_PAGE);
    return {
      events: page.map((r) => ({ sender: r.sender, type: r.type, content: r.content })),
      more: rows.length > DEHYDRATED_PAGE,
      last: page.length ? String(page[page.length - 1]!.position) : null,
    };
  }
}
