import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../companion-services/platform/config.ts";
import { readConfigFile } from "../../server/config/file.ts";
import { ambiguousNames, envNameFor } from "../../server/config/keys.ts";
import { isSecretName, maskSetting } from "../../server/config/mask.ts";
import { effectiveSettings, loadConfig, SETTING_NAMES } from "../../server/config.ts";

const dir = mkdtempSync(path.join(tmpdir(), "nova-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** Writes a config file with the given extension; returns its path. */
function file(ext: string, text: string): string {
  const p = path.join(dir, `nova-${++n}${ext}`);
  writeFileSync(p, text);
  return p;
}
const KNOWN = new Set(SETTING_NAMES);
/** The ConfigError message loadConfig throws, or a failure if it does not throw one. */
function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("loadConfig did not throw");
}

describe("key names", () => {
  it("maps env names as they are, nested keys joined with _ and NOVA_ added unless already known", () => {
    expect(envNameFor(["NOVA_PORT"], KNOWN)).toBe("NOVA_PORT");
    expect(envNameFor(["port"], KNOWN)).toBe("NOVA_PORT");
    expect(envNameFor(["server_name"], KNOWN)).toBe("NOVA_SERVER_NAME");
    expect(envNameFor(["ratelimit", "send_ip"], KNOWN)).toBe("NOVA_RATELIMIT_SEND_IP");
    expect(envNameFor(["database", "url"], KNOWN)).toBe("DATABASE_URL");
    expect(envNameFor(["identity", "database_url"], KNOWN)).toBe("IDENTITY_DATABASE_URL");
    expect(envNameFor(["media", "http_port"], KNOWN)).toBe("MEDIA_HTTP_PORT");
    expect(envNameFor(["media", "max_upload"], KNOWN)).toBe("NOVA_MEDIA_MAX_UPLOAD");
    expect(envNameFor(["kafka_brokers"], KNOWN)).toBe("KAFKA_BROKERS");
  });

  it("is unambiguous: no variable X has a sibling NOVA_X", () => {
    expect(ambiguousNames(KNOWN)).toEqual([]);
    expect(ambiguousNames(new Set(["PORT", "NOVA_PORT"]))).toEqual(["PORT"]);
  });
});

describe("NOVA_CONFIG file", () => {
  const toml = `
# a comment
server_name = "toml.example"
NOVA_REGISTRATION = "closed"
guest_access = false
turn_uris = ["turn:a.example:3478?transport=udp", "turns:a.example:5349"]

[ratelimit]
send = "1:5"
login_ip = "off"
exempt = ["@bot:toml.example"]

[media]
max_upload = 1_048_576
previews = false
http_port = 9010
legacy_freeze = 2026-01-01T00:00:00Z

[identity.database]
url = "postgres://identity:pw@db/identity"
`;

  it("reads TOML: env names, nested keys, numbers, booleans, lists, dates", () => {
    const c = loadConfig({ NOVA_CONFIG: file(".toml", toml) });
    expect(c.serverName).toBe("toml.example");
    expect(c.registration).toBe("closed");
    expect(c.guestAccess).toBe(false);
    expect(c.turn.uris).toEqual(["turn:a.example:3478?transport=udp", "turns:a.example:5349"]);
    expect(c.rateLimits.send.user).toEqual({ rate: 1, burst: 5 });
    expect(c.rateLimits.login.ip).toBeNull();
    expect(c.rateLimitExempt).toEqual(["@bot:toml.example"]);
    expect(c.media.maxUploadBytes).toBe(1_048_576);
    expect(c.media.previews.enabled).toBe(false);
    expect(c.media.httpPort).toBe(9010);
    expect(c.media.legacyFreezeTs).toBe(Date.parse("2026-01-01T00:00:00Z"));
    expect(c.databaseUrls.identity).toBe("postgres://identity:pw@db/identity");
    expect(c.databaseUrls.messaging).toBeUndefined();
  });

  it("reads YAML (.yaml and .yml) the same way", () => {
    const yaml = `
server_name: yaml.example
NOVA_PORT: 8448
ratelimit:
  send: "2:4"
  send_ip: 20:40
  exempt: ["@a:yaml.example", "@b:yaml.example"]
database_url: postgres://nova@db/nova
messaging:
  database_url: postgres://messaging:pw@db/messaging
kafka_brokers: [k1:9092, k2:9092]
`;
    for (const ext of [".yaml", ".yml"]) {
      const c = loadConfig({ NOVA_CONFIG: file(ext, yaml) });
      expect(c.serverName).toBe("yaml.example");
      expect(c.port).toBe(8448);
      expect(c.rateLimits.send).toEqual({ user: { rate: 2, burst: 4 }, ip: { rate: 20, burst: 40 } });
      expect(c.rateLimitExempt).toEqual(["@a:yaml.example", "@b:yaml.example"]);
      expect(c.databaseUrls.messaging).toBe("postgres://messaging:pw@db/messaging");
      expect(c.databaseUrls.identity).toBe("postgres://nova@db/nova");
      expect(c.kafkaBrokers).toEqual(["k1:9092", "k2:9092"]);
    }
    expect(loadConfig({ NOVA_CONFIG: file(".yaml", "") }).serverName).toBe("localhost");
  });

  it("lets the environment override the file, per variable", () => {
    const p = file(".toml", 'server_name = "file.example"\nport = 9000\n[ratelimit]\nsend = "1:5"\n');
    const c = loadConfig({ NOVA_CONFIG: p, NOVA_PORT: "9100", NOVA_RATELIMIT_SEND: "off" });
    expect(c.serverName).toBe("file.example");
    expect(c.port).toBe(9100);
    expect(c.rateLimits.send.user).toBeNull();
    const sources = Object.fromEntries(
      effectiveSettings({ NOVA_CONFIG: p, NOVA_PORT: "9100" }).settings.map((s) => [s.name, s.source]),
    );
    expect(sources).toMatchObject({
      NOVA_SERVER_NAME: "file",
      NOVA_PORT: "env",
      NOVA_RATELIMIT_SEND: "file",
      NOVA_HOST: "default",
      NOVA_PUBLIC_BASEURL: "unset",
    });
  });

  it("an empty NOVA_CONFIG reads no file", () => {
    expect(loadConfig({ NOVA_CONFIG: "" }).serverName).toBe("localhost");
  });

  it("refuses unknown keys, suggesting the near miss", () => {
    const p = file(".toml", '[ratelimit]\nsned = "1:5"\n');
    expect(configError({ NOVA_CONFIG: p })).toBe(
      `invalid configuration: NOVA_CONFIG ${p}: unknown setting "ratelimit.sned" (NOVA_RATELIMIT_SNED); did you mean NOVA_RATELIMIT_SEND?`,
    );
    expect(configError({ NOVA_CONFIG: file(".yaml", "sever_name: x\n") })).toMatch(
      /unknown setting "sever_name" \(NOVA_SEVER_NAME\); did you mean NOVA_SERVER_NAME\?$/,
    );
    expect(configError({ NOVA_CONFIG: file(".toml", "flux_capacitor = 1\n") })).toMatch(
      /unknown setting "flux_capacitor" \(NOVA_FLUX_CAPACITOR\)$/,
    );
    expect(configError({ NOVA_CONFIG: file(".toml", 'NOVA_ADMIN_TOKEN = "t"\n') })).toMatch(
      /NOVA_ADMIN_TOKEN is a setting of the nova CLI, read from the environment only$/,
    );
  });

  it("reports syntax errors with their line", () => {
    const t = file(".toml", 'port = 8008\nserver_name = "a\nhost = "x"\n');
    expect(configError({ NOVA_CONFIG: t })).toMatch(
      new RegExp(`^invalid configuration: NOVA_CONFIG ${t}: line 2, column \\d+: `),
    );
    const y = file(".yaml", "port: 8008\nratelimit:\n  send: [1\nhost: x\n");
    expect(configError({ NOVA_CONFIG: y })).toMatch(/: line 4, column 1: /);
    expect(configError({ NOVA_CONFIG: file(".yaml", "port: 1\nport: 2\n") })).toMatch(
      /line 2, column 1: Map keys must be unique$/,
    );
    expect(configError({ NOVA_CONFIG: file(".yaml", "- a\n- b\n") })).toMatch(
      /expected a mapping of settings/,
    );
  });

  it("refuses a missing file, an unsupported extension, a variable set twice, values that are not scalars", () => {
    expect(configError({ NOVA_CONFIG: path.join(dir, "absent.toml") })).toMatch(
      /absent\.toml: no such file$/,
    );
    const folder = path.join(dir, "folder.toml");
    mkdirSync(folder);
    expect(configError({ NOVA_CONFIG: folder })).toMatch(/folder\.toml: is a directory$/);
    const json = file(".json", "{}");
    expect(configError({ NOVA_CONFIG: json })).toBe(
      `invalid configuration: NOVA_CONFIG ${json}: unsupported extension ".json", expected .toml, .yaml or .yml`,
    );
    expect(configError({ NOVA_CONFIG: file(".toml", "port = 1\nNOVA_PORT = 2\n") })).toMatch(
      /"NOVA_PORT" and "port" both set NOVA_PORT$/,
    );
    expect(configError({ NOVA_CONFIG: file(".yaml", "port:\n") })).toMatch(/"port" has no value$/);
    expect(configError({ NOVA_CONFIG: file(".toml", 'turn_uris = [["a"]]\n') })).toMatch(
      /a list may hold only/,
    );
  });

  it("names the file key when the schema refuses a value from the file", () => {
    const p = file(".toml", 'port = "eighty"\n');
    expect(configError({ NOVA_CONFIG: p })).toMatch(
      new RegExp(`^invalid configuration: NOVA_PORT \\(from ${p} key "port"\\): `),
    );
    expect(configError({ NOVA_CONFIG: p, NOVA_SFU: "janus" })).toMatch(/; NOVA_SFU: /);
  });

  it("returns values as the environment spells them", () => {
    const p = file(".toml", 'port = 8008\nws_deflate = true\nturn_ttl = 1.5e3\nturn_uris = ["a", 2]\n');
    expect(readConfigFile(p, { known: KNOWN }).values).toEqual({
      NOVA_PORT: "8008",
      NOVA_WS_DEFLATE: "true",
      NOVA_TURN_TTL: "1500",
      NOVA_TURN_URIS: "a,2",
    });
  });
});

describe("masking", () => {
  it("hides secrets by name, and passwords inside URLs", () => {
    for (const name of [
      "NOVA_TURN_SECRET",
      "NOVA_CDN_SECRET",
      "NOVA_MEDIA_S3_SECRET_KEY",
      "NOVA_MEDIA_S3_ACCESS_KEY",
      "NOVA_ADMIN_TOKEN",
      "NOVA_SMTP_PASSWORD",
    ])
      expect(isSecretName(name), name).toBe(true);
    for (const name of ["NOVA_ACCESS_TOKEN_TTL_MS", "NOVA_TOKEN_CACHE_MS", "NOVA_PORT", "DATABASE_URL"])
      expect(isSecretName(name), name).toBe(false);
    expect(maskSetting("NOVA_TURN_SECRET", "hunter2")).toBe("***");
    expect(maskSetting("NOVA_TURN_SECRET", "")).toBe("");
    expect(maskSetting("DATABASE_URL", "postgres://nova:hunter2@db:5432/nova")).toBe(
      "postgres://nova:***@db:5432/nova",
    );
    expect(maskSetting("REDIS_URL", "redis://:p@ss@cache:6379/0")).toBe("redis://:***@cache:6379/0");
    expect(maskSetting("DATABASE_URL", "postgres://nova@db/nova?sslpassword=x&sslmode=require")).toBe(
      "postgres://nova@db/nova?sslpassword=***&sslmode=require",
    );
    expect(maskSetting("NOVA_PUBLIC_BASEURL", "https://matrix.example:8448/")).toBe(
      "https://matrix.example:8448/",
    );
  });

  it("config check's settings carry every variable once", () => {
    const { settings } = effectiveSettings({});
    expect(settings.map((s) => s.name)).toEqual([...SETTING_NAMES]);
    expect(new Set(SETTING_NAMES).size).toBe(SETTING_NAMES.length);
  });
});

describe("docs/nova.example.toml", () => {
  const example = path.resolve(import.meta.dirname, "../../docs/nova.example.toml");

  it("loads, and its values are the defaults it says they are", () => {
    expect(loadConfig({ NOVA_CONFIG: example })).toEqual(loadConfig({}));
  });

  it("stays valid with every commented example setting uncommented", () => {
    const text = readFileSync(example, "utf8");
    const uncommented = text.replace(/^# ([a-z_]+ = )/gm, "$1");
    expect(uncommented).not.toBe(text);
    const c = loadConfig({ NOVA_CONFIG: file(".toml", uncommented) });
    expect(c.databaseUrls.graph).toBe("postgres://graph:secret@db.example.org/graph");
    expect(c.kafkaBrokers).toEqual(["kafka-1.example.org:9092", "kafka-2.example.org:9092"]);
    expect(c.turn.uris).toHaveLength(2);
    expect(c.media.cdn?.baseUrl).toBe("https://cdn.example.org");
  });
});
