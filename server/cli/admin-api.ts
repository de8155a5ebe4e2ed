import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { NovaConfig } from "../config.ts";

/** The running server's admin API, as the CLI calls it (NOVA_URL, else the configured host and port). */
export class AdminApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  static from(config: NovaConfig, env: NodeJS.ProcessEnv): AdminApi {
    const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
    return new AdminApi(env.NOVA_URL ?? `http://${host}:${config.port}`, env.NOVA_ADMIN_TOKEN || undefined);
  }

  /**
   * Whether a server answers on the URL. Until the data-dir lock (server/ops/data-dir-lock.ts)
   * lands, this is how the CLI tells that a server holds the data: writing the database beside a
   * running server loses the write (its caches never see it).
   */
  async running(): Promise<boolean> {
    try {
      const res = await fetch(`${this.baseUrl}/_synapse/admin/v1/server_version`, {
        signal: AbortSignal.timeout(2_000),
      });
      return res.ok;
    } catch {
      return false;
    }
  }

  async call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    if (!this.token)
      throw new MatrixError(
        401,
        "M_MISSING_TOKEN",
        `a server runs at ${this.baseUrl}: set NOVA_ADMIN_TOKEN to an admin's access token`,
      );
    const res = await fetch(`${this.baseUrl}/_synapse/admin${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok)
      throw new MatrixError(
        res.status,
        String(json.errcode ?? "M_UNKNOWN"),
        String(json.error ?? res.statusText),
      );
    return json;
  }
}
