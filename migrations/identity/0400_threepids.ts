import type { Kysely } from "kysely";

/**
 * Email 3PIDs. `email_verifications` holds validation sessions (Synapse's
 * `threepid_validation_session` and `threepid_validation_token` in one row: a session keeps only
 * its latest token, stored as its SHA-256). `user_threepids` holds the addresses bound to
 * accounts, at most one account per address (Synapse's unique index on medium and address).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("email_verifications")
    .addColumn("sid", "text", (c) => c.primaryKey())
    .addColumn("client_secret", "text", (c) => c.notNull())
    .addColumn("medium", "text", (c) => c.notNull())
    .addColumn("address", "text", (c) => c.notNull())
    .addColumn("next_link", "text")
    .addColumn("last_send_attempt", "integer", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull())
    .addColumn("token_expires_at", "bigint", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("validated_at", "bigint")
    .execute();
  await db.schema
    .createIndex("email_verifications_secret_address")
    .on("email_verifications")
    .columns(["client_secret", "medium", "address"])
    .execute();

  await db.schema
    .createTable("user_threepids")
    .addColumn("medium", "text", (c) => c.notNull())
    .addColumn("address", "text", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.user_id"))
    .addColumn("validated_at", "bigint", (c) => c.notNull())
    .addColumn("added_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("user_threepids_pk", ["medium", "address"])
    .execute();
  await db.schema.createIndex("user_threepids_user").on("user_threepids").column("user_id").execute();
}
