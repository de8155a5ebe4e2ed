import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { canonicalJson } from "../../server/rooms/canonical-json.ts";

/**
 * A self-signed certificate for localhost/127.0.0.1 (valid until 2126), for test identity servers
 * only: the homeserver under test accepts it with NOVA_IDENTITY_SERVER_INSECURE=1, as the
 * conformance suite's identity server is run with one. Its key protects nothing.
 */
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkxw8jrsZiCO77GNC
ZaPUP0pwQvlnOQbXaHvU0tdnBDqhRANCAAQPMSdU+y7Wqy8yvNDwa9eAlyFCqtsF
jyetiw4rJyndo4uuOnxLP8lHKlaf/7x0gMhOkMmy8mOaRFMJ1ME87LEt
-----END PRIVATE KEY-----`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUHUUyllIQzczmOQRaQ/GFN5ftwp8wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMzE0NDUyNVoYDzIxMjYxMTA5
MTQ0NTI1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQPMSdU+y7Wqy8yvNDwa9eAlyFCqtsFjyetiw4rJyndo4uuOnxLP8lH
Klaf/7x0gMhOkMmy8mOaRFMJ1ME87LEto28wbTAdBgNVHQ4EFgQUZrDFHy5SXNsk
ECbx3dd/yBJMi+AwHwYDVR0jBBgwFoAUZrDFHy5SXNskECbx3dd/yBJMi+AwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAPasaMkQNSmIiC1Taf1Rl6y1TzBhq3HoULDNa5oqq0YiAiBp
FJvXT3nX66+N++PkMCkbq/NVGtR102sKYloDgdRtPg==
-----END CERTIFICATE-----`;

const ACCESS_TOKEN = "swordfish";
const PEPPER = "matrixrocks";

type Json = Record<string, unknown>;
type Invite = { medium: string; address: string; room_id: string; sender: string; token: string };

const b64 = (buf: Buffer) => buf.toString("base64").replace(/=+$/, "");

function keyPair(): { priv: KeyObject; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  return { priv: privateKey, pub: b64(raw) };
}

/**
 * A small Identity Service API v2 server for tests, answering what a third-party invite asks:
 * hash_details, lookup (sha256 and none), store-invite, pubkey/isvalid; it signs with real ed25519
 * keys and calls a homeserver's onbind as Sydent (and the conformance suite's server) does.
 */
export class FakeIdentityServer {
  readonly accessToken = ACCESS_TOKEN;
  /** Every request received: path and the Authorization header it carried. */
  readonly requests: { method: string; path: string; authorization: string | undefined }[] = [];
  private server: Server | null = null;
  private main = keyPair();
  private ephemeral = keyPair();
  private readonly bindings = new Map<string, string>();
  private readonly hashes = new Map<string, string>();
  private readonly invites = new Map<string, Invite[]>();
  private nextToken = 0;
  /** Answers of /pubkey/isvalid: false for every key when set (revoked keys). */
  revoked = false;

  get name(): string {
    const port = (this.server!.address() as AddressInfo).port;
    return `127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const server = createServer({ key: TLS_KEY, cert: TLS_CERT }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "https://localhost");
        this.requests.push({
          method: req.method ?? "",
          path: url.pathname,
          authorization: req.headers.authorization,
        });
        const text = Buffer.concat(chunks).toString("utf8");
        const body = text ? (JSON.parse(text) as Json) : {};
        const [status, answer] = this.answer(url, req.headers.authorization, body);
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private answer(url: URL, authorization: string | undefined, body: Json): [number, Json] {
    const path = url.pathname;
    if (path === "/_matrix/identity/v2/pubkey/isvalid") {
      const key = url.searchParams.get("public_key");
      const valid = !this.revoked && (key === this.main.pub || key === this.ephemeral.pub);
      return [200, { valid }];
    }
    if (authorization !== `Bearer ${ACCESS_TOKEN}`)
      return [401, { errcode: "M_UNAUTHORIZED", error: "bad token" }];
    if (path === "/_matrix/identity/v2/hash_details")
      return [200, { lookup_pepper: PEPPER, algorithms: ["none", "sha256"] }];
    if (path === "/_matrix/identity/v2/lookup") {
      const addresses = body.addresses as string[];
      const mappings: Record<string, string> = {};
      for (const a of addresses) {
        const mxid = body.algorithm === "sha256" ? this.hashes.get(a) : this.bindings.get(a);
        if (mxid) mappings[a] = mxid;
      }
      return [200, { mappings }];
    }
    if (path === "/_matrix/identity/v2/store-invite") {
      const invite = body as unknown as Invite;
      const token = `tok${this.nextToken++}`;
      const key = `${invite.address} ${invite.medium}`;
      const list = this.invites.get(key) ?? [];
      list.push({
        medium: invite.medium,
        address: invite.address,
        room_id: invite.room_id,
        sender: invite.sender,
        token,
      });
      this.invites.set(key, list);
      const validity = `https://${this.name}/_matrix/identity/v2/pubkey/isvalid`;
      return [
        200,
        {
          token,
          display_name: "Bob",
          public_key: this.main.pub,
          public_keys: [
            { public_key: this.main.pub, key_validity_url: validity },
            { public_key: this.ephemeral.pub, key_validity_url: validity },
          ],
        },
      ];
    }
    return [404, { errcode: "M_UNRECOGNIZED", error: "unknown" }];
  }

  /** Signs `obj` in place as this server (with its ephemeral key when asked). */
  sign<T extends Json>(obj: T, opts: { ephemeral?: boolean } = {}): T {
    const { priv } = opts.ephemeral ? this.ephemeral : this.main;
    const { signatures: _s, unsigned: _u, ...rest } = obj;
    const sig = b64(sign(null, Buffer.from(canonicalJson(rest), "utf8"), priv));
    Object.assign(obj, { signatures: { [this.name]: { "ed25519:0": sig } } });
    return obj;
  }

  /** New keys: what was signed before no longer verifies against them. */
  rotateKeys(): void {
    this.main = keyPair();
    this.ephemeral = keyPair();
  }

  /**
   * Binds the 3PID to `mxid`; with `homeserver`, calls its onbind with the pending invites,
   * each signed, and returns that answer's status.
   */
  async bind(medium: string, address: string, mxid: string, homeserver?: string): Promise<number | null> {
    this.bindings.set(`${address} ${medium}`, mxid);
    this.hashes.set(createHash("sha256").update(`${address} ${medium} ${PEPPER}`).digest("base64url"), mxid);
    if (!homeserver) return null;
    const invites = (this.invites.get(`${address} ${medium}`) ?? []).map((i) => ({
      ...i,
      mxid,
      signed: this.sign({ mxid, token: i.token }),
    }));
    const res = await fetch(`${homeserver}/_matrix/federation/v1/3pid/onbind`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(this.sign({ medium, address, mxid, invites })),
    });
    return res.status;
  }
}
