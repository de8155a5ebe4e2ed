import "fake-indexeddb/auto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { type MatrixClient, Preset } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabase, type ServerProcess, startServerProcess } from "../helpers/process.ts";
import { waitFor } from "../helpers/wait.ts";
import { cryptoClient, login, PASSWORD, post, register, type Session } from "./clients.ts";

// matrix-js-sdk logs through loglevel, whose setLevel its typings do not expose.
(logger as unknown as { setLevel(level: string): void }).setLevel("error");
// initRustCrypto turns the Rust SDK's tracing on at debug level, written with console.debug/info.
console.debug = () => {};
console.info = () => {};

/** Every plaintext of this conversation: none may reach the server's storage or logs. */
const SECRETS = {
  first: "plaintext-7f3a1c: the eagle lands at dawn",
  reply: "plaintext-9b2e44: copy that, eagle",
  later: "plaintext-c81d07: second device welcome",
  history: "plaintext-5e6f90: before the backup",
  dehydrated: "plaintext-0d4a2b: sent while you slept",
};

/** Decrypted message bodies in a room's live timeline (decryption is retried as keys arrive). */
function bodies(client: MatrixClient, roomId: string): string[] {
  return (client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [])
    .filter((e) => e.getType() === "m.room.message")
    .map((e) => e.getContent().body as string);
}

async function waitForBody(client: MatrixClient, roomId: string, body: string): Promise<void> {
  await waitFor(`${client.getUserId()}/${client.getDeviceId()} to decrypt "${body}"`, () =>
    bodies(client, roomId).includes(body),
  );
}

/** Waits until `client` knows every device of `userId` in `deviceIds` (from /keys/query). */
async function waitForDevices(client: MatrixClient, userId: string, deviceIds: string[]): Promise<void> {
  await waitFor(`${client.getUserId()} to see ${deviceIds.join(",")}`, async () => {
    const map = await client.getCrypto()!.getUserDeviceInfo([userId], true);
    const known = map.get(userId);
    return deviceIds.every((d) => known?.has(d));
  });
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

describe("E2EE with matrix-js-sdk and its Rust crypto", () => {
  let server: ServerProcess;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const clients: MatrixClient[] = [];
  let alice: MatrixClient;
  let bob: MatrixClient;
  let aliceSession: Session;
  let bobSession: Session;
  let roomId: string;

  beforeAll(async () => {
    db = await freshDatabase();
    // Debug logging: the plaintext check below covers the most verbose logs too.
    server = await startServerProcess({ NOVA_LOG_LEVEL: "debug", ...(db ? { DATABASE_URL: db.url } : {}) });
    aliceSession = await register(server.baseUrl, "alice");
    bobSession = await register(server.baseUrl, "bob");
    alice = await cryptoClient(server.baseUrl, aliceSession);
    bob = await cryptoClient(server.baseUrl, bobSession);
    clients.push(alice, bob);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.stopClient();
    await server?.stop();
    await db?.drop();
  });

  it("two users in an encrypted room exchange messages that decrypt both ways", async () => {
    const r = await alice.createRoom({
      preset: Preset.PrivateChat,
      invite: [bobSession.userId],
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    roomId = r.room_id;
    await waitFor("bob's invite", () => bob.getRoom(roomId));
    await bob.joinRoom(roomId);
    await waitFor(
      "alice to see bob joined",
      () => alice.getRoom(roomId)?.getMember(bobSession.userId)?.membership === "join",
    );
    await waitFor("the room to be encrypted for bob", () =>
      bob.getCrypto()!.isEncryptionEnabledInRoom(roomId),
    );

    await alice.sendTextMessage(roomId, SECRETS.first);
    await waitForBody(bob, roomId, SECRETS.first);
    const ev = bob
      .getRoom(roomId)!
      .getLiveTimeline()
      .getEvents()
      .find((e) => e.getContent().body === SECRETS.first)!;
    expect(ev.isEncrypted()).toBe(true);
    expect(ev.getWireType()).toBe("m.room.encrypted");

    await bob.sendTextMessage(roomId, SECRETS.reply);
    await waitForBody(alice, roomId, SECRETS.reply);
  }, 120_000);

  it("a second device of one user, logged in later, decrypts new messages", async () => {
    const bob2Session = await login(server.baseUrl, bobSession.userId);
    const bob2 = await cryptoClient(server.baseUrl, bob2Session);
    clients.push(bob2);
    // Alice learns about the new device through device_lists.changed and /keys/query.
    await waitForDevices(alice, bobSession.userId, [bobSession.deviceId, bob2Session.deviceId]);
    await alice.sendTextMessage(roomId, SECRETS.later);
    await waitForBody(bob2, roomId, SECRETS.later);
    await waitForBody(bob, roomId, SECRETS.later);
  }, 120_000);

  it("cross-signing is bootstrapped and a second device is verified by it", async () => {
    const crypto = alice.getCrypto()!;
    await crypto.bootstrapCrossSigning({
      setupNewCrossSigning: true,
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({
          type: "m.login.password",
          identifier: { type: "m.id.user", user: aliceSession.userId },
          password: PASSWORD,
        });
      },
    });
    expect(await crypto.isCrossSigningReady()).toBe(true);
    const alice2Session = await login(server.baseUrl, aliceSession.userId);
    const alice2 = await cryptoClient(server.baseUrl, alice2Session);
    clients.push(alice2);
    await waitForDevices(alice, aliceSession.userId, [alice2Session.deviceId]);
    await crypto.crossSignDevice(alice2Session.deviceId);
    // Bob sees the signature the server stored and merged into /keys/query.
    await waitFor("bob to see alice's second device cross-signed", async () => {
      const status = await bob
        .getCrypto()!
        .getDeviceVerificationStatus(aliceSession.userId, alice2Session.deviceId);
      return status?.signedByOwner;
    });
    // Alice's own view follows once her client re-fetches her keys (device_lists.changed for herself).
    await waitFor("alice to see her second device cross-signing verified", async () => {
      const own = await crypto.getDeviceVerificationStatus(aliceSession.userId, alice2Session.deviceId);
      return own?.crossSigningVerified;
    });
  }, 120_000);

  it("a key backup is created, and a fresh device restores it and decrypts history", async () => {
    const crypto = alice.getCrypto()!;
    await crypto.resetKeyBackup();
    const version = await waitFor("backup to be active", () => crypto.getActiveSessionBackupVersion());
    await alice.sendTextMessage(roomId, SECRETS.history);
    await waitForBody(bob, roomId, SECRETS.history);
    // Wait until the backup holds every session alice has used (first, later, history).
    await waitFor("room keys in the backup", async () => {
      const res = await fetch(`${server.baseUrl}/_matrix/client/v3/room_keys/version/${version}`, {
        headers: { Authorization: `Bearer ${aliceSession.accessToken}` },
      });
      const info = (await res.json()) as { count: number };
      return info.count >= 2;
    });
    const key = await crypto.getSessionBackupPrivateKey();
    expect(key).not.toBeNull();

    const fresh = await cryptoClient(server.baseUrl, await login(server.baseUrl, aliceSession.userId));
    clients.push(fresh);
    await waitFor("history to arrive", () => fresh.getRoom(roomId)?.getLiveTimeline().getEvents().length);
    expect(bodies(fresh, roomId)).not.toContain(SECRETS.history);
    await fresh.getCrypto()!.storeSessionBackupPrivateKey(key!, version);
    const result = await fresh.getCrypto()!.restoreKeyBackup();
    expect(result.imported).toBeGreaterThan(0);
    await waitForBody(fresh, roomId, SECRETS.history);
    await waitForBody(fresh, roomId, SECRETS.first);
  }, 180_000);

  it("a dehydrated device receives keys while its owner is offline", async () => {
    // Carol sets up cross-signing, secret storage and a dehydrated device, then goes offline.
    let secretKey: Uint8Array | null = null;
    const cryptoCallbacks = {
      getSecretStorageKey: async ({
        keys,
      }: {
        keys: Record<string, unknown>;
      }): Promise<[string, Uint8Array] | null> => {
        const id = Object.keys(keys)[0];
        return id && secretKey ? [id, secretKey] : null;
      },
    };
    const auth =
      (userId: string) => async (makeRequest: (a: Record<string, unknown>) => Promise<unknown>) => {
        await makeRequest({
          type: "m.login.password",
          identifier: { type: "m.id.user", user: userId },
          password: PASSWORD,
        });
      };
    const carolSession = await register(server.baseUrl, "carol");
    const carol = await cryptoClient(server.baseUrl, carolSession, cryptoCallbacks);
    clients.push(carol);
    const cc = carol.getCrypto()!;
    expect(await cc.isDehydrationSupported()).toBe(true);
    await cc.bootstrapCrossSigning({
      setupNewCrossSigning: true,
      authUploadDeviceSigningKeys: auth(carolSession.userId),
    });
    const recovery = await cc.createRecoveryKeyFromPassphrase();
    secretKey = recovery.privateKey;
    await cc.bootstrapSecretStorage({
      createSecretStorageKey: async () => recovery,
      setupNewSecretStorage: true,
    });
    await cc.startDehydration({ createNewKey: true });
    const dehydrated = await fetch(
      `${server.baseUrl}/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`,
      {
        headers: { Authorization: `Bearer ${carolSession.accessToken}` },
      },
    ).then((r) => r.json() as Promise<{ device_id: string }>);
    expect(dehydrated.device_id).toBeTruthy();

    const r = await alice.createRoom({
      preset: Preset.PrivateChat,
      invite: [carolSession.userId],
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    await waitFor("carol's invite", () => carol.getRoom(r.room_id));
    await carol.joinRoom(r.room_id);
    await waitFor(
      "alice to see carol joined",
      () => alice.getRoom(r.room_id)?.getMember(carolSession.userId)?.membership === "join",
    );
    carol.stopClient();
    await post(server.baseUrl, `/_matrix/client/v3/logout?access_token=${carolSession.accessToken}`, {});

    await waitForDevices(alice, carolSession.userId, [dehydrated.device_id]);
    await alice.sendTextMessage(r.room_id, SECRETS.dehydrated);

    // Carol comes back on a new device, rehydrates, and reads what was sent while she was away.
    const carol2 = await cryptoClient(
      server.baseUrl,
      await login(server.baseUrl, carolSession.userId),
      cryptoCallbacks,
    );
    clients.push(carol2);
    const c2 = carol2.getCrypto()!;
    // The private keys from secret storage are imported only once the public ones are known.
    await waitFor("carol2 to know carol's cross-signing keys", () =>
      c2.userHasCrossSigningKeys(carolSession.userId, true),
    );
    await c2.bootstrapCrossSigning({ authUploadDeviceSigningKeys: auth(carolSession.userId) });
    await c2.startDehydration();
    await waitForBody(carol2, r.room_id, SECRETS.dehydrated);
  }, 180_000);

  it("never stores or logs the plaintext of messages, room keys or backups", async () => {
    for (const c of clients) c.stopClient();
    clients.length = 0;
    const output = server.output.join("\n");
    const dataDir = server.dataDir;
    await server.stop("SIGTERM", { keepData: true });
    const haystacks: { where: string; text: string }[] = [{ where: "server logs", text: output }];
    if (db) {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      const tables = await c.query<{ s: string; t: string }>(
        "SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema')",
      );
      for (const { s, t } of tables.rows) {
        const rows = await c.query(`SELECT x::text AS row FROM "${s}"."${t}" x`);
        haystacks.push({ where: `${s}.${t}`, text: rows.rows.map((r) => r.row as string).join("\n") });
      }
      await c.end();
    } else {
      for (const f of filesUnder(dataDir))
        haystacks.push({ where: f, text: readFileSync(f).toString("latin1") });
    }
    const all = haystacks.map((h) => h.text).join("\n");
    // Positive control: the search does see what the server legitimately stores.
    expect(all).toContain(roomId);
    expect(all).toContain("m.megolm.v1.aes-sha2");
    if (!db) rmSync(dataDir, { recursive: true, force: true });
    for (const secret of Object.values(SECRETS)) {
      const hit = haystacks.find((h) => h.text.includes(secret) || h.text.includes(secret.split(":")[0]!));
      expect(hit?.where, `plaintext "${secret}" found`).toBeUndefined();
    }
  }, 120_000);
});
