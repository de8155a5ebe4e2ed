import { type Kysely, sql } from "kysely";
import type { CryptoTables, JsonObject } from "./tables.ts";

export type KeyType = "master" | "self_signing" | "user_signing";
export type StoredCrossSigningKey = { userId: string; type: KeyType; publicKey: string; key: JsonObject };
export type StoredSignature = {
  signerUserId: string;
  signerKeyId: string;
  targetUserId: string;
  targetKeyId: string;
  signature: string;
};

/** cross_signing_keys and cross_signing_signatures. */
export class CrossSigningRepository {
  constructor(private readonly db: Kysely<CryptoTables>) {}

  async keysOf(userIds: string[], db: Kysely<CryptoTables> = this.db): Promise<StoredCrossSigningKey[]> {
    if (userIds.length === 0) return [];
    const rows = await db
      .selectFrom("cross_signing_keys")
      .selectAll()
      .where(sql<boolean>`user_id = ANY(${userIds}::text[])`)
      .execute();
    return rows.map((r) => ({
      userId: r.user_id,
      type: r.key_type as KeyType,
      publicKey: r.public_key,
      key: r.key_json,
    }));
  }

  async setKey(db: Kysely<CryptoTables>, k: StoredCrossSigningKey): Promise<void> {
    await db
      .insertInto("cross_signing_keys")
      .values({
        user_id: k.userId,
        key_type: k.type,
        public_key: k.publicKey,
        key_json: JSON.stringify(k.key),
      })
      .onConflict((oc) =>
        oc.columns(["user_id", "key_type"]).doUpdateSet((eb) => ({
          public_key: eb.ref("excluded.public_key"),
          key_json: eb.ref("excluded.key_json"),
        })),
      )
      .execute();
  }

  /** Drops the signatures a replaced key made: they vouch for nothing any more. */
  async deleteSignaturesBy(
    db: Kysely<CryptoTables>,
    signerUserId: string,
    signerKeyId: string,
  ): Promise<void> {
    await db
      .deleteFrom("cross_signing_signatures")
      .where("signer_user_id", "=", signerUserId)
      .where("signer_key_id", "=", signerKeyId)
      .execute();
  }

  async deleteSignaturesOn(
    db: Kysely<CryptoTables>,
    targetUserId: string,
    targetKeyId: string,
  ): Promise<void> {
    await db
      .deleteFrom("cross_signing_signatures")
      .where("target_user_id", "=", targetUserId)
      .where("target_key_id", "=", targetKeyId)
      .execute();
  }

  async addSignatures(db: Kysely<CryptoTables>, sigs: StoredSignature[]): Promise<void> {
    if (sigs.length === 0) return;
    await db
      .insertInto("cross_signing_signatures")
      .values(
        sigs.map((s) => ({
          signer_user_id: s.signerUserId,
          signer_key_id: s.signerKeyId,
          target_user_id: s.targetUserId,
          target_key_id: s.targetKeyId,
          signature: s.signature,
        })),
      )
      .onConflict((oc) =>
        oc
          .columns(["signer_user_id", "signer_key_id", "target_user_id", "target_key_id"])
          .doUpdateSet((eb) => ({ signature: eb.ref("excluded.signature") })),
      )
      .execute();
  }

  /**
   * Signatures on these users' keys that `viewer` may see: all of those made by the key's owner
   * (self-signing key on devices, devices on the master key), and those `viewer` made with their
   * user-signing key.
   */
  async signaturesOn(targetUserIds: string[], viewer: string): Promise<StoredSignature[]> {
    if (targetUserIds.length === 0) return [];
    const rows = await this.db
      .selectFrom("cross_signing_signatures")
      .selectAll()
      .where(sql<boolean>`target_user_id = ANY(${targetUserIds}::text[])`)
      .where((eb) =>
        eb.or([eb("signer_user_id", "=", eb.ref("target_user_id")), eb("signer_user_id", "=", viewer)]),
      )
      .execute();
    return rows.map((r) => ({
      signerUserId: r.signer_user_id,
      signerKeyId: r.signer_key_id,
      targetUserId: r.target_user_id,
      targetKeyId: r.target_key_id,
      signature: r.signature,
    }));
  }
}
