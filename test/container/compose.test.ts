import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./runtime-dir.ts";

/**
 * docker-compose.yml checked by Docker Compose v2 itself (.ci/compose.sh installs the binary):
 * `docker-compose config` loads the file with compose-go, validates it against the Compose
 * specification's schema and its own semantic rules, interpolates and merges, and needs no Docker
 * engine. NOVA_COMPOSE_BIN names another binary.
 */
const BIN = process.env.NOVA_COMPOSE_BIN ?? "docker-compose";
const MIN = "2.23.1"; // inline `configs`, as the file's header says
const version = spawnSync(BIN, ["version", "--short"], { encoding: "utf8" }).stdout?.trim().replace(/^v/, "");
const usable = !!version && newer(version, MIN);
if (!usable && process.env.CI)
  throw new Error(`compose.test: no Compose >= ${MIN} (${BIN}; bash .ci/compose.sh)`);
if (!usable)
  console.log(`compose.test: skipped, needs Docker Compose >= ${MIN} as ${BIN} (bash .ci/compose.sh)`);

function newer(v: string, min: string): boolean {
  const a = v.split(/[.-]/).map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!;
  return true;
}

type Resolved = {
  services: Record<
    string,
    {
      build?: { target?: string };
      command?: string[];
      volumes?: { type: string; source?: string; target: string }[];
      healthcheck?: { test?: string[]; disable?: boolean };
      depends_on?: Record<string, { condition: string }>;
      environment?: Record<string, string | null>;
    }
  >;
};

describe.skipIf(!usable)(`docker-compose.yml under Docker Compose ${version}`, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "nova-compose-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** `docker-compose config` on a copy of the file (same project directory), with no .env or COMPOSE_* from here. */
  const config = (text: string, ...args: string[]) => {
    const file = path.join(dir, "docker-compose.yml");
    writeFileSync(file, text);
    return spawnSync(BIN, ["--project-directory", ROOT, "-f", file, "config", ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", HOME: dir },
    });
  };
  const original = readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8");

  it("is valid", () => {
    const r = config(original, "--quiet");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("is checked for real: a misspelt condition and an unknown healthcheck key are rejected", () => {
    const condition = config(
      original.replace("condition: service_healthy", "condition: service_healty"),
      "--quiet",
    );
    expect(condition.status).not.toBe(0);
    expect(condition.stderr).toMatch(/service_healty|condition/);
    const key = config(original.replace("  interval: 10s", "  intreval: 10s"), "--quiet");
    expect(key.status).not.toBe(0);
    expect(key.stderr).toMatch(/intreval/);
  });

  it("builds Nova from the Dockerfile and mounts no source, with a healthcheck for every Nova service that can have one", () => {
    const r = config(original, "--format", "json");
    expect(r.status).toBe(0);
    const services = (JSON.parse(r.stdout) as Resolved).services;
    const nova = Object.entries(services).filter(([, s]) => s.build);
    expect(nova.length).toBeGreaterThanOrEqual(5);
    for (const [name, s] of nova) {
      expect(s.volumes?.some((v) => v.type === "bind") ?? false, `${name} bind-mounts`).toBe(false);
      // The homeserver keeps the image's HEALTHCHECK command; identity and graph, which have no
      // client listener, ask /ready on their admin listener.
      if (name !== "homeserver") expect(s.healthcheck?.test?.[0], name).toBe("CMD");
      if (name === "identity" || name === "graph") {
        expect(s.environment?.NOVA_ADMIN_PORT, name).toMatch(/^\d+$/);
        expect(s.healthcheck?.test?.join(" "), name).toContain("/ready");
      }
    }
    expect(services.media!.build?.target).toBe("media");
    // Whatever waits on a Nova service waits for it to be healthy.
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        if (services[dep]?.build) expect(condition, `${name} → ${dep}`).toBe("service_healthy");
      }
    }
  });
});
