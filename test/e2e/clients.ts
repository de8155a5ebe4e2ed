import "fake-indexeddb/auto";
import { ClientEvent, createClient, type MatrixClient, SyncState } from "matrix-js-sdk";
import type { CryptoCallbacks } from "matrix-js-sdk/lib/crypto-api/index.js";

/** Real clients for the end-to-end suites: accounts over HTTP, matrix-js-sdk with Rust crypto. */

export const PASSWORD = "e2e password";

export type Session = { userId: string; deviceId: string; accessToken: string };

export async function post(baseUrl: string, p: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}${p}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function register(baseUrl: string, localpart: string): Promise<Session> {
  const b = await post(baseUrl, "/_matrix/client/v3/register", {
    username: localpart,
    password: PASSWORD,
    auth: { type: "m.login.dummy" },
  });
  return {
    userId: b.user_id as string,
    deviceId: b.device_id as string,
    accessToken: b.access_token as string,
  };
}

export async function login(baseUrl: string, userId: string): Promise<Session> {
  const b = await post(baseUrl, "/_matrix/client/v3/login", {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: userId },
    password: PASSWORD,
  });
  return { userId, deviceId: b.device_id as string, accessToken: b.access_token as string };
}

/** A js-sdk client with Rust crypto (in memory), synced and ready. */
export async function cryptoClient(
  baseUrl: string,
  s: Session,
  cryptoCallbacks?: CryptoCallbacks,
): Promise<MatrixClient> {
  const client = createClient({
    baseUrl,
    userId: s.userId,
    accessToken: s.accessToken,
    deviceId: s.deviceId,
    cryptoCallbacks,
  });
  await startWithCrypto(client);
  return client;
}

/** Rust crypto (in memory), then sync until the client is prepared. */
export async function startWithCrypto(client: MatrixClient): Promise<void> {
  await client.initRustCrypto({ useIndexedDB: false });
  const prepared = new Promise<void>((resolve, reject) => {
    client.on(ClientEvent.Sync, (state: SyncState) => {
      if (state === SyncState.Prepared) resolve();
      if (state === SyncState.Error) reject(new Error("sync error"));
    });
  });
  await client.startClient({ initialSyncLimit: 30 });
  await prepared;
}
