import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../server/cli.ts";
import { type CliOutput, cliInProcess, cliProcess } from "../helpers/cli.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const _ROOT = fileURLToPath(new URL("../../", import.meta.url));

type CliResult = { code: number; out: Record<string, unknown> | null; err: string };

const parsed = (r: CliOutput): CliResult => {
  try {
    return {
      code: r.code,
      out: r.out.trim() ? (JSON.parse(r.out) as Record<string, unknown>) : null,
      err: r.err,
    };
  } catch {
    return { code: r.code, out: null, err: r.err };
  }
};

/** Runs `nova <args>` as a child process, as `npm run nova -- …` does. */
async function nova(args: string[], env: Record<string, string>): Promise<CliResult> {
  // The child sees only the database this test chose: never the admin DATABASE_URL of the runner.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k !== "DATABASE_URL" && !k.endsWith("_DATABASE_URL")),
  );
  return parsed(await cliProcess(args, { ...inherited, NOVA_LOG_LEVEL: "silent", ...env }));
}

/** Runs the CLI's main() in this process, capturing what it prints. */
async function inProcess(argv: string[], env: Record<string, string>): Promise<CliResult> {
  return parsed(await cliInProcess(argv, { NOVA_LOG_LEVEL: "silent", ...env }));
}

describe("admin CLI against the server's data", () => {
  let dataDir: string;
  const env: Record<string, string> = {};
  let dbName: string | undefined;
  let server: TestServer | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "nova-cli-"));
    env.NOVA_DATA_DIR = dataDir;
    // No server answers here: the commands write the database directly.
    env.NOVA_URL = "http://127.0.0.1:1";
    await writeFile(path.join(dataDir, "pw"), "s3cret pw\n");
    const adminUrl = process.env.DATABASE_URL;
    if (adminUrl && process.env.NOVA_TEST_BACKEND !== "pglite") {
      // The CLI and the server must share one database, so this test creates it itself.
      dbName = `nova_cli_${randomBytes(6).toString("hex")}`;
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`CREATE DATABASE ${dbName}`);
      await c.end();
      const u = new URL(adminUrl);
      u.pathname = `/${dbName}`;
      env.DATABASE_URL = u.toString();
    }
  });

  afterAll(async () => {
    await server?.close();
    if (dbName && process.env.DATABASE_URL) {
      const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it("answers --help and an empty command line as a process", async () => {
    const [none, help] = await Promise.all([nova([], env), nova(["--help"], env)]);
    expect(none.code).toBe(2);
    expect(help.code).toBe(0);
  }, 120_000);

  it("rejects bad usage without touching the database", async () => {
    // In-process (the same main() the binary runs): each case fails before any database opens.
    const run = (argv: string[]) => inProcess(argv, { ...env, NOVA_DATA_DIR: "/nonexistent/never-created" });
    const unknown = await run(["user", "frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown command");
    const noPassword = await run(["user", "create", "zed"]);
    expect(noPassword).toMatchObject({ code: 2, err: expect.stringContaining("--password") });
    expect((await run(["user", "create", "a", "b", "--password-stdin"])).code).toBe(2);
    const argv = await run(["user", "create", "zed", "--password", "x"]);
    expect(argv).toMatchObject({
      code: 2,
      err: expect.stringContaining("--password on the command line is refused"),
    });
    expect((await run(["token", "create", "--uses", "zero"])).code).toBe(2);
    expect((await run(["token", "create", "--uses"])).code).toBe(2);
    expect((await run(["token", "create", "--expires", "tomorrow-ish"])).code).toBe(2);
    expect((await run(["token", "create", "--admin"])).code).toBe(2);
    expect(existsSync("/nonexistent/never-created")).toBe(false);
    // `serve` loads lazily; its usage line must still name every target it serves.
    const { SERVE_TARGETS } = await import("../../server/serve.ts");
    expect(COMMANDS.serve!.usage).toBe(`serve <${SERVE_TARGETS.join("|")}>`);
  }, 120_000);

  it("creates an admin user and a one-use registration token", async () => {
    const user = await nova(
      ["user", "create", "Root", "--password-file", path.join(dataDir, "pw"), "--admin"],
      env,
    );
    expect(user.err).toBe("");
    expect(user.code).toBe(0);
    expect(user.out).toEqual({ user_id: "@root:localhost", admin: true });

    // The remaining cases run main() in-process (same code, no second process start-up).
    const dup = await inProcess(["user", "create", "root", "--password-file", path.join(dataDir, "pw")], env);
    expect(dup.code).toBe(1);
    expect(JSON.parse(dup.err)).toMatchObject({ errcode: "M_USER_IN_USE" });

    const token = await nova(["token", "create", "--uses", "1", "--token", "welcome-1"], env);
    expect(token.code).toBe(0);
    expect(token.out).toMatchObject({ token: "welcome-1", uses_allowed: 1, completed: 0, expiry_time: null });

    const expired = await inProcess(
      ["token", "create", "--token", "old", "--expires", "2001-01-01T00:00:00Z"],
      env,
    );
    expect(expired.out).toMatchObject({ token: "old", expiry_time: Date.parse("2001-01-01T00:00:00Z") });
  }, 120_000);

  it("lets the created user log in to a server on the same data, and the token register exactly once", async () => {
    server = await startTestServer({ ...env, NOVA_REGISTRATION: "token" });
    const login = await server.call("POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "root" },
        password: "s3cret pw",
      },
    });
    expect(login.status).toBe(200);
    expect(login.body.user_id).toBe("@root:localhost");

    const first = await server.call("POST", "/_matrix/client/v3/register", {
      body: { username: "newbie", password: "pw" },
    });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ["m.login.registration_token"] }]);

    const validity = await server.call(
      "GET",
      "/_matrix/client/v1/register/m.login.registration_token/validity?token=old",
    );
    expect(validity.body.valid).toBe(false);

    const wrong = await server.call("POST", "/_matrix/client/v3/register", {
      body: {
        username: "newbie",
        password: "pw",
        auth: { type: "m.login.registration_token", token: "nope", session: first.body.session },
      },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe("M_FORBIDDEN");

    const ok = await server.call("POST", "/_matrix/client/v3/register", {
      body: {
        username: "newbie",
        password: "pw",
        auth: { type: "m.login.registration_token", token: "welcome-1", session: first.body.session },
      },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.user_id).toBe("@newbie:localhost");

    const again = await server.call("POST", "/_matrix/client/v3/register", {
      body: {
        username: "second",
        password: "pw",
        auth: { type: "m.login.registration_token", token: "welcome-1" },
      },
    });
    expect(again.status).toBe(401);
    expect(again.body.errcode).toBe("M_FORBIDDEN");
    const taken = await server.call("GET", "/_matrix/client/v3/register/available?username=second");
    expect(taken.body.available).toBe(true);
  }, 120_000);

  it("speaks the running server's admin API: its writes are seen at once", async () => {
    const s = server!;
    const root = await s.call("POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "root" },
        password: "s3cret pw",
      },
    });
    const apiEnv = { ...env, NOVA_URL: s.baseUrl, NOVA_ADMIN_TOKEN: root.body.access_token as string };
    const noToken = await inProcess(["user", "list"], { ...env, NOVA_URL: s.baseUrl });
    expect(noToken.code).toBe(1);
    expect(noToken.err).toContain("NOVA_ADMIN_TOKEN");
    const pw = path.join(dataDir, "pw");
    const created = await inProcess(["user", "create", "dave", "--password-file", pw], apiEnv);
    expect(created).toMatchObject({ code: 0, out: { user_id: "@dave:localhost", admin: false } });
    const login = await s.call("POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "dave" },
        password: "s3cret pw",
      },
    });
    expect(login.status).toBe(200);
    const list = await inProcess(["user", "list", "--name", "dav"], apiEnv);
    expect((list.out!.users as { name: string }[]).map((u) => u.name)).toEqual(["@dave:localhost"]);
    expect((await inProcess(["user", "make-admin", "dave"], apiEnv)).code).toBe(0);
    expect((await s.identity.getUser("@dave:localhost"))!.isAdmin).toBe(true);
    const tokens = await inProcess(["token", "list"], apiEnv);
    expect((tokens.out!.registration_tokens as { token: string }[]).map((t) => t.token)).toContain(
      "welcome-1",
    );
    expect((await inProcess(["token", "revoke", "old"], apiEnv)).code).toBe(0);
    expect((await inProcess(["room", "list"], apiEnv)).out).toMatchObject({ total_rooms: 0 });
    // A server notice reaches dave's notices room.
    const notice = await inProcess(["notice", "send", "dave", "maintenance", "at", "noon"], apiEnv);
    expect(notice.code).toBe(0);
    expect(String(notice.out!.event_id)).toMatch(/^\$/);
    expect((await inProcess(["notice", "send", "dave"], apiEnv)).code).toBe(2);
    // As an admin's login instead of a token: logged out after the command, no device left behind.
    const devices = async () =>
      (
        await s.call("GET", "/_synapse/admin/v2/users/%40root%3Alocalhost/devices", {
          token: apiEnv.NOVA_ADMIN_TOKEN,
        })
      ).body.total as number;
    const before = await devices();
    const asLogin = { ...env, NOVA_URL: s.baseUrl, NOVA_ADMIN_USER: "root", NOVA_ADMIN_PASSWORD_FILE: pw };
    const listed = await inProcess(["user", "list", "--name", "dav"], asLogin);
    expect(listed.code).toBe(0);
    expect((listed.out!.users as { name: string }[]).map((u) => u.name)).toEqual(["@dave:localhost"]);
    expect(await devices()).toBe(before);
    // newbie (registered above with the password "pw") is no admin.
    const newbiePw = path.join(dataDir, "pw-newbie");
    await writeFile(newbiePw, "pw\n");
    const notAdmin = await inProcess(["user", "list"], {
      ...asLogin,
      NOVA_ADMIN_USER: "newbie",
      NOVA_ADMIN_PASSWORD_FILE: newbiePw,
    });
    expect(notAdmin.code).toBe(1);
    expect(notAdmin.err).toContain("M_FORBIDDEN");
    if (!env.DATABASE_URL) {
      // The server holds the data-dir lock: a CLI that cannot reach it refuses to write beside it.
      const blind = await inProcess(["user", "create", "eve", "--password-file", pw], env);
      expect(blind.code).toBe(1);
      expect(blind.err).toContain(`data directory ${dataDir} is in use by process ${process.pid}`);
      expect(await s.identity.getUser("@eve:localhost")).toBeNull();
    }
    expect((await inProcess(["user", "deactivate", "dave"], apiEnv)).code).toBe(0);
    const gone = await s.call("GET", "/_matrix/client/v3/account/whoami", {
      token: login.body.access_token as string,
    });
    expect(gone.status).toBe(401);
    // Without a server, commands that need one say so.
    const offline = await inProcess(["room", "list"], env);
    expect(offline.code).toBe(1);
    expect(offline.err).toContain("no server answers");
  }, 120_000);
});

describe("registration closed", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ NOVA_REGISTRATION: "closed" });
  });
  afterAll(async () => {
    await s.close();
  });

  it("answers 403 M_FORBIDDEN", async () => {
    const r = await s.call("POST", "/_matrix/client/v3/register", {
      body: { username: "x", password: "y", auth: { type: "m.login.dummy" } },
    });
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe("M_FORBIDDEN");
  });
});
