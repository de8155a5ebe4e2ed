import type { Kysely } from "kysely";
import { z } from "zod";
import type { IdentityClient } from "../companion-services/identity/client.ts";
import { MatrixError } from "../companion-services/platform/errors.ts";
import type { RoomMembership } from "../server/rooms/membership.ts";
import type { Notifier } from "../sync/notifier.ts";
import type { StreamPositions } from "../sync/stream-positions.ts";
import { canonicalJson } from "./canonical-json.ts";
import { entry, mapEntry } from "./collections.ts";
import { CrossSigningRepository, type StoredCrossSigningKey } from "./cross-signing.repository.ts";
import { DeviceListsRepository } from "./device-lists.repository.ts";
import { DevicesRepository } from "./devices.repository.ts";
import {
  type DeviceSigner,
  sameKey,
  signerOf,
  validateDeviceKeys,
  validateKeyMap,
} from "./key-validation.ts";
import { OneTimeKeysRepository, type UploadedKey } from "./one-time-keys.repository.ts";
import type { keysUploadBody } from "./schemas.ts";
import type { CryptoTables, JsonObject } from "./tables.ts";
import { ToDeviceRepository } from "./to-device.repository.ts";

export type KeyServerDeps = {
  db: Kysely<CryptoTables>;
  streams: StreamPositions;
  notifier: Notifier;
  identity: IdentityClient;
  rooms: RoomMembership;
  serverName: string;
};

type KeyCounts = { counts: Record<string, number>; unusedFallback: string[] };
/** Devices whose key counts are kept in memory. */
const MAX_CACHED_COUNTS = 100_000;
const sharedKeyCounts = z.object({ user: z.string().max(255) });

/**
 * The key server's logic shared by its HTTP routes, /sync providers and hooks: devices and their
 * keys, one-time/fallback keys, device-list changes. It stores and relays; it never decrypts.
 */
export class KeyServer {
  readonly devices: DevicesRepository;
  readonly otks: OneTimeKeysRepository;
  readonly lists: DeviceListsRepository;
  readonly toDevice: ToDeviceRepository;
  readonly crossSigning: CrossSigningRepository;

  /** Bumped whenever a user's one-time or fallback keys change here (upload, claim, deletion). */
  private readonly countVersions = new Map<string, number>();
  private readonly countCache = new Map<string, { version: number; value: KeyCounts }>();

  constructor(readonly deps: KeyServerDeps) {
    // Another replica uploaded or handed out this user's keys: counts cached here are stale.
    deps.notifier.handleEphemeral("key_counts", (data) => {
      this.bumpCounts(sharedKeyCounts.parse(data).user);
    });
    this.devices = new DevicesRepository(deps.db);
    this.otks = new OneTimeKeysRepository(deps.db);
    this.lists = new DeviceListsRepository(deps.db);
    this.toDevice = new ToDeviceRepository(deps.db);
    this.crossSigning = new CrossSigningRepository(deps.db);
  }

  /**
   * The device's one-time key counts and unused fallback key types, which every sync response
   * carries: from memory until an upload or claim changes them.
   */
  async keyCounts(userId: string, deviceId: string): Promise<KeyCounts> {
    const key = `${userId}\u0000${deviceId}`;
    const version = this.countVersions.get(userId) ?? 0;
    const c = this.countCache.get(key);
    if (c && c.version === version) return c.value;
    const value = await this.otks.syncState({ userId, deviceId });
    this.countCache.delete(key);
    this.countCache.set(key, { version, value });
    if (this.countCache.size > MAX_CACHED_COUNTS) {
      const oldest = this.countCache.keys().next().value;
      if (oldest !== undefined) this.countCache.delete(oldest);
    }
    return value;
  }

  /** The user's key counts changed (call after the change commits, and before if inside a write). */
  keyCountsChanged(userId: string): void {
    this.bumpCounts(userId);
    this.deps.notifier.shareEphemeral("key_counts", { user: userId });
  }

  private bumpCounts(userId: string): void {
    this.countVersions.set(userId, (this.countVersions.get(userId) ?? 0) + 1);
  }

  isLocal(userId: string): boolean {
    return userId.slice(userId.indexOf(":") + 1) === this.deps.serverName;
  }

  /**
   * Runs `fn` in a transaction at a fresh stream position; afterwards wakes everyone who must see
   * the device-list changes it reports (`changed`: everyone sharing a room with them;
   * `changedFor`: only that user).
   */
  async writeWithChanges<T>(
    fn: (
      trx: Kysely<CryptoTables>,
      position: number,
    ) => Promise<{ result: T; changed?: string[]; changedFor?: { userIds: string[]; viewer: string } }>,
  ): Promise<T> {
    const { result } = await this.deps.streams.write(this.deps.db, async (trx, pos, touch) => {
      const out = await fn(trx, pos);
      if (out.changed?.length) await this.lists.recordChange(trx, pos, out.changed);
      if (out.changedFor?.userIds.length) {
        await this.lists.recordChange(trx, pos, out.changedFor.userIds, out.changedFor.viewer);
      }
      touch(async () => ({
        userIds: await this.viewersOf(out.changed ?? [], out.changedFor?.viewer),
        kinds: ["device_list"],
      }));
      return out;
    });
    return result.result;
  }

  /** Everyone who sees `changed` users' device lists (and `viewer`): whose syncs to wake. */
  private async viewersOf(changed: string[], viewer?: string): Promise<Set<string>> {
    const userIds = new Set<string>(viewer ? [viewer] : []);
    for (const u of changed) {
      userIds.add(u);
      for (const other of await this.deps.rooms.usersSharingRoomsWith(u)) userIds.add(other);
    }
    return userIds;
  }

  // ---- /keys/upload ------------------------------------------------------------------------

  async upload(
    userId: string,
    deviceId: string,
    body: z.infer<typeof keysUploadBody>,
  ): Promise<{ one_time_key_counts: Record<string, number> }> {
    // Validate everything before writing anything.
    let newKeys: JsonObject | null = null;
    let signer: DeviceSigner | null = null;
    const existing = await this.devices.get(userId, deviceId);
    if (body.device_keys) {
      const v = validateDeviceKeys(body.device_keys, userId, deviceId);
      newKeys = v.stored;
      signer = v.signer;
      const old = existing?.deviceKeys;
      if (old && !sameIdentity(old, newKeys, deviceId)) {
        throw new MatrixError(
          400,
          "M_INVALID_PARAM",
          "This device already has different identity keys; log in as a new device to use new keys",
        );
      }
    } else if (existing?.deviceKeys) {
      signer = signerOf(existing.deviceKeys, deviceId);
    }
    const otks = validateKeyMap(body.one_time_keys ?? {}, userId, deviceId, signer, "one-time key");
    const fallbacks = validateKeyMap(body.fallback_keys ?? {}, userId, deviceId, signer, "fallback key");
    const algs = new Set<string>();
    for (const f of fallbacks) {
      if (algs.has(f.algorithm)) {
        throw new MatrixError(400, "M_INVALID_PARAM", `more than one fallback key for ${f.algorithm}`);
      }
      algs.add(f.algorithm);
    }
    const displayName = existing ? null : await this.displayNameOf(userId, deviceId);
    const keysChanged =
      newKeys !== null &&
      (!existing?.deviceKeys || canonicalJson(existing.deviceKeys) !== canonicalJson(newKeys));
    const apply = async (db: Kysely<CryptoTables>) => {
      await this.devices.ensure(db, { userId, deviceId, displayName });
      if (keysChanged && newKeys) await this.devices.setKeys(db, userId, deviceId, newKeys);
      await this.storeOneTimeKeys(db, userId, deviceId, otks);
      await this.storeFallbackKeys(db, userId, deviceId, fallbacks);
      return this.otks.counts({ userId, deviceId }, db);
    };
    try {
      const counts = keysChanged
        ? await this.writeWithChanges(async (db) => ({ result: await apply(db), changed: [userId] }))
        : await this.deps.db.transaction().execute(apply);
      return { one_time_key_counts: counts };
    } finally {
      this.keyCountsChanged(userId);
    }
  }

  /** Inserts one-time keys; a different key under an existing id aborts the whole upload. */
  async storeOneTimeKeys(db: Kysely<CryptoTables>, userId: string, deviceId: string, keys: UploadedKey[]) {
    const clashes = await this.otks.insertOneTimeKeys(db, { userId, deviceId }, keys);
    for (const k of keys) {
      const stored = clashes.get(`${k.algorithm}:${k.keyId}`);
      if (stored !== undefined && !sameKey(stored, k.key)) {
        throw new MatrixError(
          400,
          "M_INVALID_PARAM",
          `One time key ${k.algorithm}:${k.keyId} already exists`,
        );
      }
    }
  }

  /** Replaces fallback keys; an identical re-upload keeps the stored key's used flag. */
  async storeFallbackKeys(db: Kysely<CryptoTables>, userId: string, deviceId: string, keys: UploadedKey[]) {
    if (keys.length === 0) return;
    const stored = await this.otks.fallbackKeys(db, { userId, deviceId });
    for (const k of keys) {
      const old = stored.get(k.algorithm);
      if (old && old.keyId === k.keyId && sameKey(old.key, k.key)) continue;
      await this.otks.setFallbackKey(
        db,
        { userId, deviceId },
        {
          algorithm: k.algorithm,
          keyId: k.keyId,
          key: k.key as JsonObject,
          used: false,
        },
      );
    }
  }

  private async displayNameOf(userId: string, deviceId: string): Promise<string | null> {
    return (await this.deps.identity.getDevice(userId, deviceId))?.displayName ?? null;
  }

  // ---- /keys/query -------------------------------------------------------------------------

  /**
   * /keys/query, answered as JSON text. Device keys go out as stored (plus `unsigned` and any
   * signatures uploaded since), spliced as text: a 1,000-user query is then one SELECT and string
   * joins rather than a thousand parsed and re-serialised objects.
   */
  async query(viewer: string, request: Record<string, string[]>): Promise<string> {
    const failures: Record<string, JsonObject> = {};
    const local: string[] = [];
    for (const userId of Object.keys(request)) {
      if (this.isLocal(userId)) local.push(userId);
      else
        failures[userId.slice(userId.indexOf(":") + 1)] = {
          status: 503,
          message: "Federation is not available",
        };
    }
    const master: Record<string, JsonObject> = {};
    const selfSigning: Record<string, JsonObject> = {};
    const userSigning: Record<string, JsonObject> = {};
    const [devices, csKeys, signatures] = await Promise.all([
      this.devices.keysTextOfUsers(local),
      this.crossSigning.keysOf(local),
      this.crossSigning.signaturesOn(local, viewer),
    ]);
    // Extra signatures by target: "user|keyId" → signer → key id → signature.
    const extra = new Map<string, Record<string, Record<string, string>>>();
    for (const s of signatures) {
      const k = `${s.targetUserId}|${s.targetKeyId}`;
      const bySigner = mapEntry(extra, k, () => ({}));
      entry(bySigner, s.signerUserId, () => ({}))[s.signerKeyId] = s.signature;
    }
    const byUser = new Map<string, string[]>(local.map((u) => [u, []]));
    for (const d of devices) {
      const only = request[d.userId]!;
      if (only.length > 0 && !only.includes(d.deviceId)) continue;
      const unsigned = d.displayName === null ? {} : { device_display_name: d.displayName };
      const sigs = extra.get(`${d.userId}|${d.deviceId}`);
      const text = sigs
        ? JSON.stringify({ ...mergeSignatures(JSON.parse(d.keysJson) as JsonObject, sigs), unsigned })
        : `{"unsigned":${JSON.stringify(unsigned)},${d.keysJson.slice(1)}`;
      byUser.get(d.userId)!.push(`${JSON.stringify(d.deviceId)}:${text}`);
    }
    for (const k of csKeys) {
      if (k.type === "master")
        master[k.userId] = mergeSignatures(k.key, extra.get(`${k.userId}|${k.publicKey}`));
      else if (k.type === "self_signing") selfSigning[k.userId] = k.key;
      else if (k.userId === viewer) userSigning[k.userId] = k.key;
    }
    const deviceKeys = [...byUser].map(([u, parts]) => `${JSON.stringify(u)}:{${parts.join(",")}}`).join(",");
    return (
      `{"device_keys":{${deviceKeys}},"master_keys":${JSON.stringify(master)},` +
      `"self_signing_keys":${JSON.stringify(selfSigning)},"user_signing_keys":${JSON.stringify(userSigning)},` +
      `"failures":${JSON.stringify(failures)}}`
    );
  }

  // ---- /keys/claim -------------------------------------------------------------------------

  async claim(request: Record<string, Record<string, string>>): Promise<{
    one_time_keys: Record<string, Record<string, Record<string, JsonObject | string>>>;
    failures: Record<string, JsonObject>;
  }> {
    const failures: Record<string, JsonObject> = {};
    const wanted: { userId: string; deviceId: string; algorithm: string }[] = [];
    for (const [userId, devices] of Object.entries(request)) {
      if (!this.isLocal(userId)) {
        failures[userId.slice(userId.indexOf(":") + 1)] = {
          status: 503,
          message: "Federation is not available",
        };
        continue;
      }
      for (const [deviceId, algorithm] of Object.entries(devices))
        wanted.push({ userId, deviceId, algorithm });
    }
    let claimed: Awaited<ReturnType<OneTimeKeysRepository["claim"]>>;
    try {
      claimed = await this.otks.claim(wanted);
    } finally {
      for (const u of new Set(wanted.map((w) => w.userId))) this.keyCountsChanged(u);
    }
    const one_time_keys: Record<string, Record<string, Record<string, JsonObject | string>>> = {};
    for (const c of claimed) {
      const byDevice = entry(one_time_keys, c.userId, () => ({}));
      entry(byDevice, c.deviceId, () => ({}))[`${c.algorithm}:${c.keyId}`] = c.key;
    }
    return { one_time_keys, failures };
  }

  // ---- device lists ------------------------------------------------------------------------

  /**
   * Users whose device lists `viewer` must re-fetch, and users they stopped sharing every room
   * with, between two stream positions (`device_lists` in /sync, /keys/changes).
   */
  async deviceListChanges(
    viewer: string,
    from: number,
    to: number,
  ): Promise<{ changed: string[]; left: string[] }> {
    if (to <= from) return { changed: [], left: [] };
    const rooms = this.deps.rooms;
    const [keyChanges, myRooms] = await Promise.all([
      this.lists.changesBetween(from, to, viewer),
      rooms.joinedRoomIds(viewer),
    ]);
    const memberships = await this.lists.membershipsBetween(from, to, myRooms, viewer);
    if (keyChanges.length === 0 && memberships.length === 0) return { changed: [], left: [] };
    const sharing = new Set(await rooms.usersSharingRoomsWith(viewer));
    sharing.add(viewer);
    const changed = new Set<string>();
    const maybeLeft = new Set<string>();
    for (const c of keyChanges) if (c.onlyForViewer || sharing.has(c.userId)) changed.add(c.userId);
    const joinedRooms = new Set(myRooms);
    for (const m of memberships) {
      const entering = m.membership === "join" || m.membership === "invite" || m.membership === "knock";
      if (m.userId === viewer) {
        // The viewer joined a room: its members are new to them; left one: they may be gone.
        const members = await rooms.joinedMembers(m.roomId);
        for (const u of members) (m.membership === "join" ? changed : maybeLeft).add(u);
      } else if (joinedRooms.has(m.roomId)) {
        (entering ? changed : maybeLeft).add(m.userId);
      }
    }
    const left = [...maybeLeft].filter((u) => !sharing.has(u) && u !== viewer);
    return { changed: [...changed].filter((u) => sharing.has(u) || !maybeLeft.has(u)), left };
  }

  // ---- device lifecycle (hooks) ------------------------------------------------------------

  /** A device logged in for the first time: it exists for to-device and counts as a change. */
  async deviceCreated(userId: string, deviceId: string): Promise<void> {
    const displayName = await this.displayNameOf(userId, deviceId);
    await this.writeWithChanges(async (db) => {
      await this.devices.ensure(db, { userId, deviceId, displayName });
      return { result: undefined, changed: [userId] };
    });
  }

  /** A device was deleted: its keys, inbox and signatures go, and everyone sharing a room hears of it. */
  async deviceRevoked(userId: string, deviceId: string): Promise<void> {
    await this.writeWithChanges(async (db) => {
      await this.removeDevice(db, userId, deviceId);
      return { result: undefined, changed: [userId] };
    });
  }

  async removeDevice(db: Kysely<CryptoTables>, userId: string, deviceId: string): Promise<void> {
    await this.devices.delete(db, userId, deviceId);
    await this.otks.deleteDevice(db, { userId, deviceId });
    this.keyCountsChanged(userId);
    await this.toDevice.deleteInbox(db, userId, deviceId);
    await this.crossSigning.deleteSignaturesOn(db, userId, deviceId);
  }

  /** A room membership changed: users may start or stop sharing a room. */
  async membershipChanged(e: { roomId: string; userId: string; membership: string }): Promise<void> {
    await this.deps.streams.write(this.deps.db, async (trx, pos, touch) => {
      await this.lists.recordMembership(trx, pos, e);
      touch(async () => ({
        userIds: [...(await this.deps.rooms.joinedMembers(e.roomId)), e.userId],
        kinds: ["device_list"],
      }));
    });
  }

  /** The device's display name changed (shown in /keys/query). */
  async deviceRenamed(userId: string, deviceId: string, displayName: string | null): Promise<void> {
    if (await this.devices.setDisplayName(userId, deviceId, displayName)) {
      await this.writeWithChanges(async () => ({ result: undefined, changed: [userId] }));
    }
  }

  /** The current cross-signing keys of a user, by type. */
  async crossSigningKeys(
    userId: string,
    db?: Kysely<CryptoTables>,
  ): Promise<Map<string, StoredCrossSigningKey>> {
    const keys = await this.crossSigning.keysOf([userId], db);
    return new Map(keys.map((k) => [k.type, k]));
  }
}

/** The Rust SDK rejects a device whose identity keys change; so does Nova (checklist §1.1). */
function sameIdentity(old: JsonObject, next: JsonObject, deviceId: string): boolean {
  const a = old.keys as Record<string, string>;
  const b = next.keys as Record<string, string>;
  return (
    a[`ed25519:${deviceId}`] === b[`ed25519:${deviceId}`] &&
    a[`curve25519:${deviceId}`] === b[`curve25519:${deviceId}`]
  );
}

function mergeSignatures(
  obj: JsonObject,
  extra: Record<string, Record<string, string>> | undefined,
): JsonObject {
  if (!extra) return obj;
  const out: Record<string, Record<string, string>> = {};
  for (const [u, sigs] of Object.entries((obj.signatures ?? {}) as Record<string, Record<string, string>>)) {
    out[u] = { ...sigs };
  }
  for (const [u, sigs] of Object.entries(extra)) out[u] = { ...(out[u] ?? {}), ...sigs };
  return { ...obj, signatures: out };
}
