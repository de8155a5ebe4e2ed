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

/** The connection was restarted or expired while a request on it was being answered. */
export class ConnectionGone extends Error {}

/** All SQL of sliding sync connections and their positions. */
export class ConnectionsRepository {
  constructor(private readonly db: SlidingDb) {}

  async generation(k: ConnectionKey): Promise<string | null> {
    const row = await this.db
      .selectFrom("sliding_sync_connections")
      .select("generation")
      .where("user_id", "=", k.userId)
      .where("device_id", "=", k.deviceId)
      .where("conn_id", "=", k.connId)
      .executeTakeFirst();
    return row?.generation ?? null;
  }

  /**
   * The position `seq` of the connection's current generation, and the newest position answered
   * to a request that used it (with that request's hash and response, for retries).
   */
  async positions(
    k: ConnectionKey,
    generation: string,
    seq: number,
  ): Promise<{ at: StoredPosition | null; answered: StoredPosition | null }> {
    const rows = await this.db
      .selectFrom("sliding_sync_positions")
      .select(["generation", "seq", "base_seq", "state", "request_hash", "response"])
      .where("user_id", "=", k.userId)
      .where("device_id", "=", k.deviceId)
      .where("conn_id", "=", k.connId)
      .where("generation", "=", generation)
      .where((eb) => eb.or([eb("seq", "=", seq), eb("base_seq", "=", seq)]))
      .orderBy("seq", "desc")
      .execute();
    const parse = (r: (typeof rows)[number]): StoredPosition => ({
      generation: r.generation,
      seq: Number(r.seq),
      state: JSON.parse(r.state) as ConnectionState,
      requestHash: r.request_hash,
      response: r.response,
    });
    const at = rows.find((r) => Number(r.seq) === seq);
    const answered = rows.find((r) => r.base_seq !== null && Number(r.base_seq) === seq);
    return { at: at ? parse(at) : null, answered: answered ? parse(answered) : null };
  }

  /**
   * Records the position answered to a request and returns its sequence number. On a new
   * connection (`restart`) the old state goes; otherwise every position but the one the request
   * used (the client has confirmed it) and those answered to it.
   */
  async save(
    k: ConnectionKey,
    p: { generation: string; state: ConnectionState; requestHash: string; response: (seq: number) => string },
    opts: { restart: boolean; usedSeq: number | null; now: number },
  ): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      let seq: number;
      if (opts.restart) {
        seq = 1;
        await trx
          .insertInto("sliding_sync_connections")
          .values({
            user_id: k.userId,
            device_id: k.deviceId,
            conn_id: k.connId,
            generation: p.generation,
            next_seq: seq,
            created_ts: opts.now,
            last_used_ts: opts.now,
          })
          .onConflict((oc) =>
            oc.columns(["user_id", "device_id", "conn_id"]).doUpdateSet({
              generation: p.generation,
              next_seq: seq,
              created_ts: opts.now,
              last_used_ts: opts.now,
            }),
          )
          .execute();
      } else {
        const row = await trx
          .updateTable("sliding_sync_connections")
          .set((eb) => ({ last_used_ts: opts.now, next_seq: eb("next_seq", "+", 1) }))
          .where("user_id", "=", k.userId)
          .where("device_id", "=", k.deviceId)
          .where("conn_id", "=", k.connId)
          .where("generation", "=", p.generation)
          .returning("next_seq")
          .executeTakeFirst();
        // Restarted or expired meanwhile (another request without pos): this answer has no base.
        if (!row) throw new ConnectionGone();
        seq = Number(row.next_seq);
      }
      let del = trx
        .deleteFrom("sliding_sync_positions")
        .where("user_id", "=", k.userId)
        .where("device_id", "=", k.deviceId)
        .where("conn_id", "=", k.connId);
      if (!opts.restart && opts.usedSeq !== null) {
        const used = opts.usedSeq;
        del = del.where((eb) =>
          eb.or([
            eb("generation", "!=", p.generation),
            eb.and([eb("seq", "!=", used), eb.or([eb("base_seq", "is", null), eb("base_seq", "!=", used)])]),
          ]),
        );
      }
      await del.execute();
      await trx
        .insertInto("sliding_sync_positions")
        .values({
          user_id: k.userId,
          device_id: k.deviceId,
          conn_id: k.connId,
          generation: p.generation,
          seq,
          base_seq: opts.usedSeq,
          state: JSON.stringify(p.state),
          request_hash: p.requestHash,
          response: p.response(seq),
          created_ts: opts.now,
        })
        .execute();
      return seq;
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
