import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GrpcIdentityClient } from "../../companion-services/identity/grpc-client.ts";
import type { IdentityTables } from "../../companion-services/identity/tables.ts";
import { canonicalEmail } from "../../companion-services/identity/threepids.ts";
import { MatrixError } from "../../companion-services/platform/errors.ts";
import { identityOverGrpc, pgAdminUrl } from "./helpers.ts";

/** The errcode a call fails with (every failure must be a MatrixError, over gRPC too). */
async function errcodeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MatrixError) return err.errcode;
    throw err;
  }
  throw new Error("expected a failure");
}

describe("canonicalEmail", () => {
  it("case-folds and trims, refuses what is not one address", () => {
    expect(canonicalEmail("  Alice.B@Example.ORG ")).toBe("alice.b@example.org");
    for (const bad of ["", "alice", "a@b@c", "@example.org", "alice@", "a b@example.org"]) {
      expect(() => canonicalEmail(bad)).toThrow(MatrixError);
    }
  });
});

// Identity's token store, through the gRPC client (so the wire is covered as well).
describe(`email validation sessions and 3PIDs over gRPC (${pgAdminUrl ? "PostgreSQL" : "PGlite"})`, () => {
  let fixture: Awaited<ReturnType<typeof identityOverGrpc>>;
  let client: GrpcIdentityClient;
  let db: Kysely<IdentityTables>;
  let userId: string;

  beforeAll(async () => {
    fixture = await identityOverGrpc();
    client = fixture.client;
    db = fixture.env.databases.get<IdentityTables>("identity").db;
    const reg = await client.register({ localpart: "owner", password: "pw-owner-123" });
    userId = reg.userId;
  }, 60_000);
  afterAll(() => fixture?.close());

  const start = (email: string, clientSecret: string, sendAttempt = 1) =>
    client.threepids.requestEmailValidation({ purpose: "add", clientSecret, email, sendAttempt });

  it("stores only the token's hash, with an expiry an hour away", async () => {
    const before = Date.now();
    const s = await start("Hash@Example.org", "cs-hash");
    expect(s.address).toBe("hash@example.org");
    expect(s.token).toEqual(expect.any(String));
    const row = await db
      .selectFrom("email_verifications")
      .selectAll()
      .where("sid", "=", s.sid)
      .executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(createHash("sha256").update(s.token!).digest("base64url"));
    expect(JSON.stringify(row)).not.toContain(s.token!);
    expect(Number(row.token_expires_at)).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(Number(row.token_expires_at)).toBeLessThanOrEqual(Date.now() + 3_600_000);
  });

  it("is idempotent per send attempt; a new attempt replaces the token", async () => {
    const a = await start("idem@example.org", "cs-idem");
    const again = await start("idem@example.org", "cs-idem");
    expect(again).toEqual({ sid: a.sid, address: "idem@example.org", token: null });
    const b = await start("idem@example.org", "cs-idem", 2);
    expect(b.sid).toBe(a.sid);
    expect(b.token).not.toBe(a.token);
    const creds = { sid: a.sid, clientSecret: "cs-idem" };
    expect(await errcodeOf(client.threepids.submitEmailValidation({ ...creds, token: a.token! }))).toBe(
      "M_THREEPID_AUTH_FAILED",
    );
    expect(await client.threepids.submitEmailValidation({ ...creds, token: b.token! })).toEqual({
      nextLink: null,
    });
    // Following the link again is fine.
    expect(await client.threepids.submitEmailValidation({ ...creds, token: b.token! })).toEqual({
      nextLink: null,
    });
  });

  it("refuses unknown sessions, other secrets and expired tokens", async () => {
    const s = await start("exp@example.org", "cs-exp");
    const token = s.token!;
    expect(
      await errcodeOf(client.threepids.submitEmailValidation({ sid: "nope", clientSecret: "cs-exp", token })),
    ).toBe("M_THREEPID_AUTH_FAILED");
    expect(
      await errcodeOf(client.threepids.submitEmailValidation({ sid: s.sid, clientSecret: "other", token })),
    ).toBe("M_THREEPID_AUTH_FAILED");
    await db
      .updateTable("email_verifications")
      .set({ token_expires_at: Date.now() - 1 })
      .where("sid", "=", s.sid)
      .execute();
    expect(
      await errcodeOf(client.threepids.submitEmailValidation({ sid: s.sid, clientSecret: "cs-exp", token })),
    ).toBe("M_THREEPID_AUTH_FAILED");
    expect(await client.threepids.takeValidatedThreepid({ sid: s.sid, clientSecret: "cs-exp" })).toBeNull();
  });

  it("hands a validated session out once, and binds its address to one account", async () => {
    const s = await start("Bind@Example.org", "cs-bind");
    expect(await client.threepids.takeValidatedThreepid({ sid: s.sid, clientSecret: "cs-bind" })).toBeNull();
    await client.threepids.submitEmailValidation({ sid: s.sid, clientSecret: "cs-bind", token: s.token! });
    expect(await client.threepids.takeValidatedThreepid({ sid: s.sid, clientSecret: "wrong" })).toBeNull();
    const t = await client.threepids.takeValidatedThreepid({ sid: s.sid, clientSecret: "cs-bind" });
    expect(t).toEqual({ medium: "email", address: "bind@example.org", validatedAt: expect.any(Number) });
    expect(await client.threepids.takeValidatedThreepid({ sid: s.sid, clientSecret: "cs-bind" })).toBeNull();

    await client.threepids.addThreepid(userId, t!);
    // The owner re-adding it is fine; another account is refused.
    await client.threepids.addThreepid(userId, t!);
    const other = await client.register({ localpart: "other", password: "pw-other-123" });
    expect(await errcodeOf(client.threepids.addThreepid(other.userId, t!))).toBe("M_THREEPID_IN_USE");

    expect(await client.threepids.listThreepids(userId)).toEqual([
      {
        medium: "email",
        address: "bind@example.org",
        validatedAt: t!.validatedAt,
        addedAt: expect.any(Number),
      },
    ]);
    expect(await client.threepids.userIdByThreepid("email", "BIND@example.ORG")).toBe(userId);
    expect(await client.threepids.userIdByThreepid("email", "not an address")).toBeNull();
    expect(await errcodeOf(start("bind@example.org", "cs-bind-2"))).toBe("M_THREEPID_IN_USE");
    expect(
      await errcodeOf(
        client.threepids.requestEmailValidation({
          purpose: "reset",
          clientSecret: "cs-r",
          email: "none@example.org",
          sendAttempt: 1,
        }),
      ),
    ).toBe("M_THREEPID_NOT_FOUND");
    const reset = await client.threepids.requestEmailValidation({
      purpose: "reset",
      clientSecret: "cs-r",
      email: "Bind@example.org",
      sendAttempt: 1,
    });
    expect(reset.token).toEqual(expect.any(String));

    expect(await client.threepids.deleteThreepid(other.userId, "email", "bind@example.org")).toBe(false);
    expect(await client.threepids.deleteThreepid(userId, "email", "Bind@Example.org")).toBe(true);
    expect(await client.threepids.listThreepids(userId)).toEqual([]);
  });

  it("unbinds a deactivated account's addresses", async () => {
    const s = await start("gone@example.org", "cs-gone");
    await client.threepids.submitEmailValidation({ sid: s.sid, clientSecret: "cs-gone", token: s.token! });
    const reg = await client.register({ localpart: "gone", password: "pw-gone-123" });
    await client.threepids.addThreepid(
      reg.userId,
      (await client.threepids.takeValidatedThreepid({ sid: s.sid, clientSecret: "cs-gone" }))!,
    );
    expect(await client.threepids.userIdByThreepid("email", "gone@example.org")).toBe(reg.userId);
    await client.deactivate(reg.userId, { erase: false });
    expect(await client.threepids.userIdByThreepid("email", "gone@example.org")).toBeNull();
  });

  it("rejects malformed calls before identity sees them", async () => {
    expect(
      await errcodeOf(
        client.threepids.requestEmailValidation({
          purpose: "bogus" as "add",
          clientSecret: "cs",
          email: "x@example.org",
          sendAttempt: 1,
        }),
      ),
    ).toBe("M_INVALID_PARAM");
    expect(await errcodeOf(start("not-an-email", "cs-bad"))).toBe("M_INVALID_PARAM");
  });
});
