import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { freeFixedPort } from "../platform/spawn.ts";

export type ComposeService = {
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
};

/** docker-compose.yml as Compose reads it (YAML merge keys resolved), not interpolated. */
export function readCompose(file: string): { services: Record<string, ComposeService> } {
  return parse(readFileSync(file, "utf8"), { merge: true }) as { services: Record<string, ComposeService> };
}

/** Compose's interpolation for what the file uses: `${VAR:-default}` with VAR unset, and `$$`. */
export function interpolate(v: string): string {
  return v.replace(/\$\{\w+:-([^}]*)\}/g, "$1").replace(/\$\$/g, "$");
}

/**
 * A compose service's environment for a process on this machine: the databases, Kafka and Redis
 * are the test's, every port the file names (`…_PORT`, `host:port` in `…_LISTEN`/`…_ADDRESS`) is
 * a free one (the same compose port maps to the same free port, so identity's 50051 is where the
 * others dial it), and 0.0.0.0 becomes loopback.
 */
export async function localEnv(
  vars: Record<string, string | number>,
  ports: Map<string, number>,
  backends: { databaseUrl: (service: string) => string; kafka: string; redis?: string | undefined },
): Promise<Record<string, string>> {
  const port = async (p: string) => {
    // Chosen before the first service starts, bound by later ones: outside the ephemeral range.
    if (!ports.has(p)) ports.set(p, await freeFixedPort(new Set(ports.values())));
    return String(ports.get(p));
  };
  const out: Record<string, string> = {};
  for (const [k, raw] of Object.entries(vars)) {
    const v = interpolate(String(raw));
    const hostPort = /^[\w.-]+:(\d+)$/.exec(v);
    if (k.endsWith("_DATABASE_URL"))
      out[k] = backends.databaseUrl(k.replace(/_DATABASE_URL$/, "").toLowerCase());
    else if (k === "KAFKA_BROKERS") out[k] = backends.kafka;
    else if (k === "REDIS_URL") {
      if (backends.redis) out[k] = backends.redis;
    } else if (/_(LISTEN|ADDRESS)$/.test(k) && hostPort) out[k] = `127.0.0.1:${await port(hostPort[1]!)}`;
    else if (/(^|_)PORT$/.test(k) && /^\d+$/.test(v)) out[k] = await port(v);
    else out[k] = v === "0.0.0.0" ? "127.0.0.1" : v;
  }
  return out;
}
