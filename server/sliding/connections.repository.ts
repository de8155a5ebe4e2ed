import type { ConnectionState } from "./connection-state.ts";
import type { SlidingDb } from "./tables.ts";

export type ConnectionKey = { userId: string; deviceId: string; connId: string };

export type StoredPosition = {
  generation: string;
  seq: number;
  state: ConnectionState;
  requestHash: string | null;
  response: string | null;
};

/** All SQL of sliding sync connections and their positions. */
export class ConnectionsRepository {
  constructor(private readonly db: SlidingDb) {}

  /**
   * The position `seq` and the one answered after it, when `generation` is still the
   * connection's current one (none otherwise): one query on the path of every request with a `pos`.
   */
  async positions(k: ConnectionKey, generation: string, seq: number): Promise<StoredPosition[]> {
    const rows = await this.db
      .selectFrom("sliding_sync_positions as p")
      .innerJoin("sliding_sync_connections as c", (j) =>
        j
          .onRef("c.user_id", "=", "p.user_id")
          .onRef("c.device_id", "=", "p.device_id")
          .onRef("c.conn_id", "=", "p.conn_id")
          .onRef("c.generation", "=", "p.generation"),
      )
      .select(["p.generation", "p.seq", "p.state", "p.request_hash", "p.response"])
      .where("p.user_id", "=", k.userId)
      .where("p.device_id", "=", k.deviceId)
      .where("p.conn_id", "=", k.connId)
      .where("p.generation", "=", generation)
      .where("p.seq", "in", [seq, seq + 1])
      .execute();
    return rows.map((r) => ({
      generation: r.generation,
      seq: Number(r.seq),
      state: JSON.parse(r.state) as ConnectionState,
      requestHash: r.request_hash,
      response: r.response,
    }));
  }

  /**
   * Records the position answered to a request: on a new connection (`restart`) the old state goes;
   * otherwise every position but the one the request used (the client has confirmed it) and the new one.
   */
  async save(
    k: ConnectionKey,
    p: { generation: string; seq: number; state: ConnectionState; requestHash: string; response: string },
    opts: { restart: boolean; usedSeq: number | null; now: number },
  ): Promise<void> {
    const row = {
      user_id: k.userId,
      device_id: k.deviceId,
      conn_id: k.connId,
      generation: p.generation,
      seq: p.seq,
      state: JSON.stringify(p.state),
      request_hash: p.requestHash,
      response: p.response,
      created_ts: opts.now,
    };
    if (!opts.restart) {
      // Every incremental response comes through here: one statement (atomic on its own), not a
      // transaction of three. The new seq is left to the upsert so that no two parts touch one row.
      const used = opts.usedSeq ?? -1;
      await this.db
        .with("touched", (db) =>
          db
            .updateTable("sliding_sync_connections")
            .set({ last_used_ts: opts.now })
            .where("user_id", "=", k.userId)
            .where("device_id", "=", k.deviceId)
            .where("conn_id", "=", k.connId),
        )
        .with("gone", (db) =>
          db
            .deleteFrom("sliding_sync_positions")
            .where("user_id", "=", k.userId)
            .where("device_id", "=", k.deviceId)
            .where("conn_id", "=", k.connId)
            .where("seq", "!=", p.seq)
            .where((eb) => eb.or([eb("generation", "!=", p.generation), eb("seq", "!=", used)])),
        )
        .insertInto("sliding_sync_positions")
        .values(row)
        .onConflict((oc) =>
          oc.columns(["user_id", "device_id", "conn_id", "seq"]).doUpdateSet({
            generation: row.generation,
            state: row.state,
            request_hash: row.request_hash,
            response: row.response,
            created_ts: row.created_ts,
          }),
        )
        .execute();
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("sliding_sync_connections")
        .values({
          user_id: k.userId,
          device_id: k.deviceId,
          conn_id: k.connId,
          generation: p.generation,
          created_ts: opts.now,
          last_used_ts: opts.now,
        })
        .onConflict((oc) =>
          oc
            .columns(["user_id", "device_id", "conn_id"])
            .doUpdateSet({ generation: p.generation, created_ts: opts.now, last_used_ts: opts.now }),
        )
        .execute();
      await trx
        .deleteFrom("sliding_sync_positions")
        .where("user_id", "=", k.userId)
        .where("device_id", "=", k.deviceId)
        .where("conn_id", "=", k.connId)
        .execute();
      await trx.insertInto("sliding_sync_positions").values(row).execute();
    });
  }

  /** The device's connections, oldest use first (to bound how many one device keeps). */
  async connectionsOf(
    userId: string,
    deviceId: string,
  ): Promise<{ conn_id: string; last_used_ts: number }[]> {
    const rows = await this.db
      .selectFrom("sliding_sync_connections")
      .select(["conn_id", "last_used_ts"])
      .where("user_id", "=", userId)
      .where("device_id", "=", deviceId)
      .orderBy("last_used_ts")
      .execute();
    return rows.map((r) => ({ conn_id: r.conn_id, last_used_ts: Number(r.last_used_ts) }));
  }

  async delete(k: ConnectionKey): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const table of ["sliding_sync_positions", "sliding_sync_connections"] as const) {
        await trx
          .deleteFrom(table)
          .where("user_id", "=", k.userId)
          .where("device_id", "=", k.deviceId)
          .where("conn_id", "=", k.connId)
          .execute();
      }
    });
  }

  /** Deletes connections unused since `before`; returns how many went. */
  async expire(before: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const gone = await trx
        .deleteFrom("sliding_sync_connections")
        .where("last_used_ts", "<", before)
        .returning(["user_id", "device_id", "conn_id"])
        .execute();
      for (const g of gone) {
        await trx
          .deleteFrom("sliding_sync_positions")
          .where("user_id", "=", g.user_id)
          .where("device_id", "=", g.device_id)
          .where("conn_id", "=", g.conn_id)
          .execute();
      }
      return gone.length;
    });
  }
}
