import type { RoomsDb, RoomsExecutor } from "../tables.ts";
import type { ConversationRow } from "./rows.ts";

/** Rooms' own rows (conversations), their aliases, and the server's signing keys. */
export class ConversationsRepository {
  constructor(private readonly db: RoomsDb) {}

  async loadSigningKey(): Promise<{ key_id: string; seed: string } | null> {
    const row = await this.db
      .selectFrom("server_signing_keys")
      .select(["key_id", "seed"])
      .orderBy("created_at")
      .limit(1)
      .executeTakeFirst();
    return row ?? null;
  }

  /** Stores a new key unless another process stored one first; returns the key to use. */
  async storeSigningKey(keyId: string, seed: string): Promise<{ key_id: string; seed: string }> {
    await this.db
      .insertInto("server_signing_keys")
      .values({ key_id: keyId, seed, created_at: Date.now() })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return (await this.loadSigningKey())!;
  }

  async insertConversation(trx: RoomsExecutor, row: ConversationRow): Promise<void> {
    await trx.insertInto("conversations").values(row).execute();
  }

  /** Locks the room's row until the transaction ends: the pessimistic path of a contended write. */
  async lockRoom(trx: RoomsExecutor, roomId: string): Promise<void> {
    await trx
      .selectFrom("conversations")
      .select("room_id")
      .where("room_id", "=", roomId)
      .forUpdate()
      .execute();
  }

  async getConversation(roomId: string, db: RoomsExecutor = this.db): Promise<ConversationRow | null> {
    const row = await db
      .selectFrom("conversations")
      .select(["room_id", "room_version", "creator", "created_at", "is_public", "head_position"])
      .where("room_id", "=", roomId)
      .executeTakeFirst();
    return row ?? null;
  }

  /** getConversation for many rooms at once (unknown ones are absent). */
  async getConversations(roomIds: readonly string[]): Promise<ConversationRow[]> {
    if (roomIds.length === 0) return [];
    return this.db
      .selectFrom("conversations")
      .select(["room_id", "room_version", "creator", "created_at", "is_public", "head_position"])
      .where("room_id", "in", roomIds)
      .execute();
  }

  async setPublic(trx: RoomsExecutor, roomId: string, isPublic: boolean): Promise<void> {
    await trx
      .updateTable("conversations")
      .set({ is_public: isPublic })
      .where("room_id", "=", roomId)
      .execute();
  }

  async publicRoomIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom("conversations")
      .select("room_id")
      .where((eb) => eb.ref("is_public"))
      .orderBy("created_at")
      .orderBy("room_id")
      .execute();
    return rows.map((x) => x.room_id);
  }

  async getAlias(alias: string): Promise<{ room_id: string; creator: string } | null> {
    const row = await this.db
      .selectFrom("room_aliases")
      .select(["room_id", "creator"])
      .where("alias", "=", alias)
      .executeTakeFirst();
    return row ?? null;
  }

  /** Inserts an alias; false when it is taken. */
  async insertAlias(trx: RoomsExecutor, alias: string, roomId: string, creator: string): Promise<boolean> {
    const row = await trx
      .insertInto("room_aliases")
      .values({ alias, room_id: roomId, creator, created_at: Date.now() })
      .onConflict((oc) => oc.doNothing())
      .returning("alias")
      .executeTakeFirst();
    return row !== undefined;
  }

  async deleteAlias(trx: RoomsExecutor, alias: string): Promise<void> {
    await trx.deleteFrom("room_aliases").where("alias", "=", alias).execute();
  }

  /** Points every alias of room `from` at room `to` (a room upgrade moves them). */
  async moveAliases(trx: RoomsExecutor, from: string, to: string): Promise<void> {
    await trx.updateTable("room_aliases").set({ room_id: to }).where("room_id", "=", from).execute();
  }

  async aliasesOf(roomId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom("room_aliases")
      .select("alias")
      .where("room_id", "=", roomId)
      .orderBy("alias")
      .execute();
    return rows.map((x) => x.alias);
  }
}
