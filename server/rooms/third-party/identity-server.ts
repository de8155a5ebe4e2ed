import { createHash } from "node:crypto";
import type { Agent, fetch } from "undici";
import { z } from "zod";
import { forbidden, MatrixError } from "../../../companion-services/platform/errors.ts";
import { readCapped } from "../../../companion-services/platform/http/read-capped.ts";
import { isValidUserId } from "../../ids.ts";

/** How long one request to an identity server may take before the invite fails with 502. */
const TIMEOUT_MS = 10_000;
/** Identity server answers are small; anything larger is refused unread. */
const MAX_ANSWER_BYTES = 64 * 1024;

const unreachable = (why: string) =>
  new MatrixError(502, "M_UNKNOWN", `The identity server could not be used: ${why}`);

const hashDetails = z.object({ lookup_pepper: z.string(), algorithms: z.array(z.string()) });
const lookupAnswer = z.object({ mappings: z.record(z.string(), z.string().nullable()).default({}) });
const publicKey = z.object({ public_key: z.string().min(1), key_validity_url: z.string().url() });
const storeInviteAnswer = z.object({
  token: z.string().min(1).max(255),
  public_keys: z.array(publicKey).default([]),
  public_key: z.string().min(1).optional(),
  display_name: z.string().max(1000).default(""),
});
const validityAnswer = z.object({ valid: z.boolean() });

export type PublicKey = z.infer<typeof publicKey>;
export type StoredInvite = {
  token: string;
  displayName: string;
  publicKeys: PublicKey[];
  /** The key the invite names on its own (`public_key`, `key_validity_url`), as Synapse fills them. */
  fallback: PublicKey;
};

/**
 * A client of the Identity Service API v2 (spec "Identity Service API"): the lookups and invite
 * storage a third-party invite needs. Always https; `insecure` (a test-only setting) accepts the
 * self-signed certificate of a test identity server, as the reference suite's is.
 */
export class IdentityServerClient {
  private dispatcher: Agent | undefined;
  private readonly insecure: boolean;

  constructor(opts: { insecure: boolean }) {
    this.insecure = opts.insecure;
  }

  /** The Matrix user id bound to the 3PID, or null (v2 `/hash_details` then `/lookup`). */
  async lookup(idServer: string, token: string, medium: string, address: string): Promise<string | null> {
    const details = hashDetails.safeParse(await this.call(idServer, "GET", "/hash_details", token));
    if (!details.success) throw unreachable("malformed /hash_details answer");
    const { lookup_pepper: pepper, algorithms } = details.data;
    let algorithm: string;
    let key: string;
    // sha256 first: the identity server then never sees the address in the clear.
    if (algorithms.includes("sha256")) {
      algorithm = "sha256";
      key = createHash("sha256").update(`${address} ${medium} ${pepper}`).digest("base64url");
    } else if (algorithms.includes("none")) {
      algorithm = "none";
      key = `${address} ${medium}`;
    } else {
      return null;
    }
    const answer = lookupAnswer.safeParse(
      await this.call(idServer, "POST", "/lookup", token, { addresses: [key], algorithm, pepper }),
    );
    if (!answer.success) throw unreachable("malformed /lookup answer");
    const mxid = answer.data.mappings[key] ?? null;
    if (mxid !== null && !isValidUserId(mxid)) throw unreachable("/lookup answered a malformed user id");
    return mxid;
  }

  /** POST /store-invite: the identity server keeps the invite until the 3PID is bound. */
  async storeInvite(idServer: string, token: string, invite: Record<string, string>): Promise<StoredInvite> {
    const r = storeInviteAnswer.safeParse(await this.call(idServer, "POST", "/store-invite", token, invite));
    if (!r.success) throw unreachable("malformed /store-invite answer");
    const { public_keys: keys, public_key, display_name, token: inviteToken } = r.data;
    const fallback = public_key
      ? { public_key, key_validity_url: `https://${idServer}/_matrix/identity/v2/pubkey/isvalid` }
      : keys[0];
    if (!fallback) throw unreachable("/store-invite answered no public key");
    return {
      token: inviteToken,
      displayName: display_name,
      publicKeys: keys.length > 0 ? keys : [fallback],
      fallback,
    };
  }

  /** Asks a key's validity URL whether the key is still valid; false when it cannot be asked. */
  async isKeyValid(keyValidityUrl: string, key: string): Promise<boolean> {
    let url: URL;
    try {
      url = new URL(keyValidityUrl);
    } catch {
      return false;
    }
    if (url.protocol !== "https:") return false;
    url.searchParams.set("public_key", key);
    try {
      const r = validityAnswer.safeParse(await this.fetchJson(url, { method: "GET" }));
      return r.success && r.data.valid;
    } catch {
      return false;
    }
  }

  private async call(
    idServer: string,
    method: "GET" | "POST",
    path: string,
    token: string,
    body?: Record<string, unknown>,
  ): Promise<unknown> {
    const url = new URL(`https://${idServer}/_matrix/identity/v2${path}`);
    // The spec sends the token as a Bearer header; the reference suite's identity server reads it
    // from the query or the body instead (as older Synapse sent it), so it travels both ways.
    if (method === "GET") url.searchParams.set("id_access_token", token);
    const payload = body === undefined ? undefined : JSON.stringify({ ...body, id_access_token: token });
    return this.fetchJson(url, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: payload,
    });
  }

  private async fetchJson(
    url: URL,
    init: { method: string; headers?: Record<string, string>; body?: string },
  ): Promise<unknown> {
    // undici loads with the first third-party invite, not with every server.
    const undici = await import("undici");
    if (this.insecure) this.dispatcher ??= new undici.Agent({ connect: { rejectUnauthorized: false } });
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await undici.fetch(url, {
        ...init,
        redirect: "error",
        signal: AbortSignal.timeout(TIMEOUT_MS),
        dispatcher: this.dispatcher,
      });
    } catch (err) {
      throw unreachable(err instanceof Error && err.name === "TimeoutError" ? "timed out" : "unreachable");
    }
    let text: string | null = "";
    try {
      if (res.body) text = await readCapped(res.body, MAX_ANSWER_BYTES, () => res.body?.cancel());
    } catch {
      throw unreachable("the answer was cut off");
    }
    if (res.status === 401 || res.status === 403) {
      throw forbidden("The identity server refused the request (check id_access_token).");
    }
    if (res.status < 200 || res.status >= 300) throw unreachable(`answered HTTP ${res.status}`);
    try {
      return JSON.parse(text ?? "");
    } catch {
      throw unreachable(text === null ? "answer too large" : "answer is not JSON");
    }
  }
}

/** The body as text, or null past MAX_ANSWER_BYTES (the rest is not read). */
