import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TestDevice } from "../crypto/olm-keys.ts";
import { backendFreeEnv, type ServerProcess, startServerProcess } from "../helpers/process.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const V3 = "/_matrix/client/v3";

type CliResult = { code: number; out: Record<string, unknown> | null; err: string };

/** `nova <args>` as a child process on the given data directory. */
function nova(args: string[], dataDir: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "server/cli.ts"), ...args],
      {
        cwd: ROOT,
        env: { ...backendFreeEnv(), NOVA_LOG_LEVEL: "silent", NOVA_DATA_DIR: dataDir },
        timeout: 90_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        let out: Record<string, unknown> | null = null;
        try {
          out = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : null;
        } catch {
          out = null;
        }
        resolve({ code, out, err: stderr });
      },
    );
  });
}

async function call(
  base: string,
  method: string,
  p: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  const res = await fetch(base + p, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("nova backup / nova restore (embedded database)", () => {
  const work = mkdtempSync(path.join(tmpdir(), "nova-bk-"));
  const fresh = path.join(work, "fresh");
  const file = path.join(work, "nova-backup.tar.gz");
  let running: ServerProcess | undefined;
  afterAll(async () => {
    await running?.stop("SIGKILL");
    rmSync(work, { recursive: true, force: true });
  });

  it("copies a running server's users, rooms and keys into a fresh data directory", async () => {
    const source = await startServerProcess();
    running = source;
    const base = source.baseUrl;
    const reg = await call(base, "POST", `${V3}/register`, {
      body: { username: "alice", password: "alice-password-1", auth: { type: "m.login.dummy" } },
    });
    expect(reg.status).toBe(200);
    const alice = {
      userId: reg.body.user_id as string,
      deviceId: reg.body.device_id as string,
      token: reg.body.access_token as string,
    };
    const dev = new TestDevice(alice.userId, alice.deviceId);
    const deviceKeys = dev.deviceKeys();
    const up = await call(base, "POST", `${V3}/keys/upload`, {
      token: alice.token,
      body: { device_keys: deviceKeys, one_time_keys: dev.oneTimeKeys(3) },
    });
    expect(up.status).toBe(200);
    const room = await call(base, "POST", `${V3}/createRoom`, {
      token: alice.token,
      body: { name: "Kept in the backup" },
    });
    expect(room.status).toBe(200);
    const roomId = room.body.room_id as string;
    const sent = await call(base, "PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, {
      token: alice.token,
      body: { msgtype: "m.text", body: "before the backup" },
    });
    expect(sent.status).toBe(200);

    // The server keeps writing while the backup is taken: the copy must still open cleanly.
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing && i < 200; i++) {
        await call(base, "PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/w${i}`, {
          token: alice.token,
          body: { msgtype: "m.text", body: `during ${i}` },
        });
      }
    })();
    const backup = await nova(["backup", file], source.dataDir);
    writing = false;
    await writes;
    expect(backup.err).toBe("");
    expect(backup.code).toBe(0);
    expect(backup.out).toMatchObject({ file, from: `running server (pid ${source.child.pid})` });
    expect(statSync(file).size).toBe(backup.out!.bytes);

    // Restoring over a directory a server holds is refused.
    const busy = await nova(["restore", file], source.dataDir);
    expect(busy.code).toBe(1);
    expect(busy.err.trim()).toBe(
      `data directory ${source.dataDir} is in use by process ${source.child.pid}: stop it first`,
    );
    await source.stop("SIGTERM");
    running = undefined;

    const restored = await nova(["restore", file], fresh);
    expect(restored.err).toBe("");
    expect(restored.code).toBe(0);
    expect(restored.out!.schemas).toEqual(expect.arrayContaining(["identity", "messaging"]));
    // A second restore would overwrite: refused.
    const again = await nova(["restore", file], fresh);
    expect(again.code).toBe(1);
    expect(again.err).toContain("already holds a database");

    const copy = await startServerProcess({}, { dataDir: fresh });
    running = copy;
    const login = await call(copy.baseUrl, "POST", `${V3}/login`, {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "alice" },
        password: "alice-password-1",
      },
    });
    expect(login.status).toBe(200);
    const token = login.body.access_token as string;
    const rooms = await call(copy.baseUrl, "GET", `${V3}/joined_rooms`, { token });
    expect(rooms.body.joined_rooms).toEqual([roomId]);
    const name = await call(
      copy.baseUrl,
      "GET",
      `${V3}/rooms/${encodeURIComponent(roomId)}/state/m.room.name/`,
      {
        token,
      },
    );
    expect(name.body).toEqual({ name: "Kept in the backup" });
    const messages = await call(
      copy.baseUrl,
      "GET",
      `${V3}/rooms/${encodeURIComponent(roomId)}/messages?dir=f&limit=1000`,
      { token },
    );
    const bodies = (messages.body.chunk as { type: string; content: { body?: string } }[])
      .filter((e) => e.type === "m.room.message")
      .map((e) => e.content.body);
    expect(bodies[0]).toBe("before the backup");
    const keys = await call(copy.baseUrl, "POST", `${V3}/keys/query`, {
      token,
      body: { device_keys: { [alice.userId]: [] } },
    });
    expect(keys.body.device_keys).toMatchObject({
      [alice.userId]: { [alice.deviceId]: { keys: deviceKeys.keys } },
    });
    const claim = await call(copy.baseUrl, "POST", `${V3}/keys/claim`, {
      token,
      body: { one_time_keys: { [alice.userId]: { [alice.deviceId]: "signed_curve25519" } } },
    });
    expect(
      Object.keys(
        (claim.body.one_time_keys as Record<string, Record<string, object>>)[alice.userId]![alice.deviceId]!,
      ),
    ).toHaveLength(1);
    await copy.stop("SIGTERM", { keepData: true });
    running = undefined;

    // With no server on it, backup opens the data directory itself (and leaves it unlocked).
    const offline = await nova(["backup", path.join(work, "offline.tar.gz")], fresh);
    expect(offline.code).toBe(0);
    expect(offline.out).toMatchObject({ from: fresh });
    expect(existsSync(path.join(fresh, "nova.lock"))).toBe(false);
  }, 300_000);

  it("refuses what it cannot back up with one line", async () => {
    const empty = path.join(work, "empty");
    const none = await nova(["backup", path.join(work, "x.tar.gz")], empty);
    expect(none).toMatchObject({ code: 1, err: `no embedded database in ${empty}\n` });
    const garbage = await nova(["restore", path.join(ROOT, "package.json")], path.join(work, "g"));
    expect(garbage.code).toBe(1);
    expect(garbage.err).toMatch(/^[^\n]+package\.json is not a Nova backup[^\n]*\n$/);
    expect(existsSync(path.join(work, "g", "pglite"))).toBe(false);
  }, 120_000);
});
