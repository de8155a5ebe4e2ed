import { readFile } from "node:fs/promises";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import type { NovaConfig } from "../config.ts";
import { DataDirLockedError, readDataDirLock } from "../ops/data-dir-lock.ts";
import { promptSecret } from "./password.ts";

/** How the CLI proves it is an admin: a token, or an admin's login made for this one command. */
type Credentials = { token: string } | { user: string; passwordFile: string | undefined } | null;

/**
 * The running server's admin API, as the CLI calls it (NOVA_URL, else the configured host and
 * port), as NOVA_ADMIN_TOKEN or, with NOVA_ADMIN_USER, as a login made for the command and
 * logged out after it (password from NOVA_ADMIN_PASSWORD_FILE or a prompt, never argv).
 */
export class AdminApi {
  private token: string | undefined;
  private loggedIn = false;

  constructor(
    readonly baseUrl: string,
    private readonly credentials: Credentials,
  ) {
    if (credentials && "token" in credentials) this.token = credentials.token;
  }

  static from(config: NovaConfig, env: NodeJS.ProcessEnv): AdminApi {
    const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
    const credentials: Credentials = env.NOVA_ADMIN_TOKEN
      ? { token: env.NOVA_ADMIN_TOKEN }
      : env.NOVA_ADMIN_USER
        ? { user: env.NOVA_ADMIN_USER, passwordFile: env.NOVA_ADMIN_PASSWORD_FILE || undefined }
        : null;
    return new AdminApi(env.NOVA_URL ?? `http://${host}:${config.port}`, credentials);
  }

  /**
   * Whether the admin API is the way to the data. With the embedded database the data-dir lock
   * says whether a server holds it (writing beside a running server would lose the write: its
   * caches never see it); a holder that does not answer here is an error, not a reason to write
   * anyway. With PostgreSQL there is no lock: a server answering on the URL decides.
   */
  async serverHolds(config: NovaConfig): Promise<boolean> {
    const embedded = !config.databaseUrls.identity && !config.dataDir.startsWith("memory://");
    if (!embedded) return this.running();
    const pid = readDataDirLock(config.dataDir);
    if (pid === null) return false;
    if (await this.running()) return true;
    // The lock's own line (exit 1, as a second server gets), and what to do about it.
    const locked = new DataDirLockedError(config.dataDir, pid);
    locked.message += `, and no server answers at ${this.baseUrl}: set NOVA_URL to its address`;
    throw locked;
  }

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
    const token = await this.accessToken();
    return this.request(method, `/_synapse/admin${path}`, token, body);
  }

  /** Logs out the login this command made, if it made one. */
  async close(): Promise<void> {
    if (!this.loggedIn || !this.token) return;
    await this.request("POST", "/_matrix/client/v3/logout", this.token, {}).catch(() => {});
    this.loggedIn = false;
  }

  private async accessToken(): Promise<string> {
    if (this.token) return this.token;
    const c = this.credentials;
    if (!c || !("user" in c))
      throw new MatrixError(
        401,
        "M_MISSING_TOKEN",
        `a server runs at ${this.baseUrl}: set NOVA_ADMIN_TOKEN to an admin's access token, or NOVA_ADMIN_USER to log in as an admin`,
      );
    const password = c.passwordFile
      ? ((await readFile(c.passwordFile, "utf8")).split(/\r?\n/)[0] ?? "")
      : await promptSecret(`password for ${c.user}: `, "NOVA_ADMIN_PASSWORD_FILE");
    const login = await this.request("POST", "/_matrix/client/v3/login", undefined, {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: c.user },
      password,
      initial_device_display_name: "nova CLI",
    });
    this.token = String(login.access_token);
    this.loggedIn = true;
    return this.token;
  }

  private async request(
    method: string,
    path: string,
    token: string | undefined,
    body?: unknown,
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
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
