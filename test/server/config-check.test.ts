import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type CliOutput, cliInProcess, cliProcess } from "../helpers/cli.ts";
import { backendFreeEnv, type ServerProcess, startServerProcess } from "../helpers/process.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(path.join(tmpdir(), "nova-config-check-"));
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** `npm run nova -- <args>` as a child process, with only the variables given (plus PATH and the like). */
function nova(args: string[], env: Record<string, string>): Promise<CliOutput> {
  const inherited = Object.fromEntries(
    Object.entries(backendFreeEnv()).filter(([k]) => !/^(NOVA_|KAFKA_|REDIS_)/.test(k)),
  ) as Record<string, string>;
  return cliProcess(args, { ...inherited, ...env });
}

const inProcess = cliInProcess;

const TOML = `
server_name = "check.example"
port = 9000
[database]
url = "postgres://nova:hunter2@db.internal:5432/nova"
[turn]
secret = "turn-hunter2"
[ratelimit]
send = "1:5"
[notifications]
database_url = "postgres://notifications:pw-hunter2@db.internal/notifications"
`;

describe("nova config check", () => {
  it("prints every setting with its source, secrets masked, as a process", async () => {
    const cfg = file("check.toml", TOML);
    const r = await nova(["config", "check"], { NOVA_CONFIG: cfg, NOVA_PORT: "9100" });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toBe(`# valid; NOVA_CONFIG=${cfg}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        "file     NOVA_SERVER_NAME=check.example",
        "env      NOVA_PORT=9100",
        "default  NOVA_HOST=127.0.0.1",
        "unset    NOVA_PUBLIC_BASEURL",
        "file     DATABASE_URL=postgres://nova:***@db.internal:5432/nova",
        "file     NOTIFICATIONS_DATABASE_URL=postgres://notifications:***@db.internal/notifications",
        "unset    IDENTITY_DATABASE_URL",
        "file     NOVA_TURN_SECRET=***",
        "file     NOVA_RATELIMIT_SEND=1:5",
        "default  NOVA_RATELIMIT_SEND_IP=100:500",
      ]),
    );
    expect(r.out).not.toContain("hunter2");
  }, 120_000);

  it("fails with one line and exit 2 on an unknown key, as a process", async () => {
    const cfg = file("typo.toml", '[ratelimit]\nsned = "1:5"\n');
    const r = await nova(["config", "check"], { NOVA_CONFIG: cfg });
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      `invalid configuration: NOVA_CONFIG ${cfg}: unknown setting "ratelimit.sned" (NOVA_RATELIMIT_SNED); did you mean NOVA_RATELIMIT_SEND?\n`,
    );
  }, 120_000);

  it("has a --json form", async () => {
    const cfg = file("check.yaml", "server_name: json.example\nredis_url: redis://:hunter2@cache:6379\n");
    const r = await inProcess(["config", "check", "--json"], { NOVA_CONFIG: cfg, NOVA_LOG_LEVEL: "warn" });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { valid: boolean; file: string; settings: Record<string, unknown> };
    expect(j.valid).toBe(true);
    expect(j.file).toBe(cfg);
    expect(j.settings.NOVA_SERVER_NAME).toEqual({ value: "json.example", source: "file" });
    expect(j.settings.REDIS_URL).toEqual({ value: "redis://:***@cache:6379", source: "file" });
    expect(j.settings.NOVA_LOG_LEVEL).toEqual({ value: "warn", source: "env" });
    expect(j.settings.NOVA_PORT).toEqual({ value: "8008", source: "default" });
    expect(j.settings.KAFKA_BROKERS).toEqual({ value: null, source: "unset" });
  });

  it("reports an invalid value from the file or the environment, and a parse error's line", async () => {
    const bad = await inProcess(["config", "check"], {
      NOVA_CONFIG: file("bad.toml", 'registration = "maybe"\n'),
    });
    expect(bad.code).toBe(2);
    expect(bad.out).toBe("");
    expect(bad.err).toMatch(
      /^invalid configuration: NOVA_REGISTRATION \(from .*bad\.toml key "registration"\): [^\n]+\n$/,
    );
    const env = await inProcess(["config", "check"], { NOVA_PORT: "http" });
    expect(env).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^invalid configuration: NOVA_PORT: [^\n]+\n$/),
    });
    const syntax = await inProcess(["config", "check"], {
      NOVA_CONFIG: file("syntax.yaml", "a: 1\nb: [\nc: 2\n"),
    });
    expect(syntax.code).toBe(2);
    expect(syntax.err).toMatch(/syntax\.yaml: line \d+, column \d+: [^\n]+\n$/);
    expect((await inProcess(["config", "check", "extra"], {})).code).toBe(2);
  });
});

describe("npm start with NOVA_CONFIG", () => {
  it("serves with the file's settings under the environment's", async () => {
    const cfg = file(
      "start.toml",
      'server_name = "fromfile.example"\npublic_baseurl = "https://matrix.fromfile.example"\nport = 1\n',
    );
    // The helper sets NOVA_PORT=0 in the environment: it wins over the file's port.
    const s = await startServerProcess({ NOVA_CONFIG: cfg });
    servers.push(s);
    expect(s.port).not.toBe(1);
    const wk = (await (await fetch(`${s.baseUrl}/.well-known/matrix/client`)).json()) as Record<
      string,
      unknown
    >;
    expect(wk["m.homeserver"]).toEqual({ base_url: "https://matrix.fromfile.example" });
    const reg = await fetch(`${s.baseUrl}/_matrix/client/v3/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: "filed",
        password: "a long passphrase",
        auth: { type: "m.login.dummy" },
      }),
    });
    const { access_token } = (await reg.json()) as { access_token: string };
    const who = await fetch(`${s.baseUrl}/_matrix/client/v3/account/whoami`, {
      headers: { Authorization: `Bearer ${access_token}` },
    });
    expect(((await who.json()) as { user_id: string }).user_id).toBe("@filed:fromfile.example");
  }, 120_000);

  it("refuses to start on a bad file with one line and exit 2", async () => {
    const cfg = file("start-bad.yml", "server_name: x\nport: [\n");
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", path.join(ROOT, "server/main.ts")],
        { cwd: ROOT, env: { ...backendFreeEnv(), NOVA_CONFIG: cfg }, timeout: 60_000 },
        (error, _out, err) => resolve({ code: error ? Number(error.code ?? 1) : 0, err }),
      );
    });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^invalid configuration: NOVA_CONFIG .*start-bad\.yml: line \d+, column \d+: [^\n]+\n$/,
    );
  }, 120_000);
});
