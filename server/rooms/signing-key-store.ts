import { randomBytes } from "node:crypto";
import { SigningKey } from "./event-hashing.ts";
import type { ConversationsRepository } from "./storage/conversations.repository.ts";

/**
 * Loads the server's ed25519 signing key from the messaging database, creating and persisting one
 * on first start (key ids are `ed25519:a_<random>` as Synapse names them).
 */
export async function loadOrCreateSigningKey(repo: ConversationsRepository): Promise<SigningKey> {
  let row = await repo.loadSigningKey();
  if (!row) {
    const version = `a_${randomBytes(3).toString("base64url")}`;
    row = await repo.storeSigningKey(version, randomBytes(32).toString("base64"));
  }
  return new SigningKey(Buffer.from(row.seed, "base64"), row.key_id);
}
