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

  /**
   * The position `seq`, and the newest position answered to a request that used it (with that
   * request's hash and response, for retries) — both only while `generation` is the connection's
   * current one. One query: it is on the path of every request with a `pos`.
   */
  async positions(
    k: ConnectionKey,
    generation: string,
    seq: number,
  ): Promise<{ at: StoredPosition | null; answered: StoredPosition | null }> {
    const rows = await this.db
      .selectFrom("sliding_sync_positions as p")
      .innerJoin("sliding_sync_connections as c", (j) =>
        j
          .onRef("c.user_id", "=", "p.user_id")
          .onRef("c.device_id", "=", "p.device_id")
          .onRef("c.conn_id", "=", "p.conn_id")
          .onRef("c.generation", "=", "p.generation"),
      )
      .select(["p.generation", "p.seq", "p.base_seq", "p.state", "p.request_hash", "p.response"])
      .where("p.user_id", "=", k.userId)
      .where("p.device_id", "=", k.deviceId)
      .where("p.conn_id", "=", k.connId)
      .where("p.generation", "=", generation)
      .where((eb) => eb.or([eb("p.seq", "=", seq), eb("p.base_seq", "=", seq)]))
      .orderBy("p.created_ts", "desc")
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
   * Records the position answered to a request. On a new connection (`restart`) the old state
   * goes; otherwise every position but the one the request used (the client has confirmed it)
   * and those answered to it — in one statement, the path of every incremental response.
   * Throws ConnectionGone when the connection was restarted or expired meanwhile.
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
      base_seq: opts.restart ? null : opts.usedSeq,
      state: JSON.stringify(p.state),
      request_hash: p.requestHash,
      response: p.response,
      created_ts: opts.now,
    };
    if (!opts.restart && opts.usedSeq !== null) {
      const used = opts.usedSeq;
      const inserted = await this.db
        .with("touched", (db) =>
          db
            .updateTable("sliding_sync_connections")
            .set({ last_used_ts: opts.now })
            .where("user_id", "=", k.userId)
            .where("device_id", "=", k.deviceId)
            .where("conn_id", "=", k.connId)
            .where("generation", "=", p.generation)
            .returning("generation"),
        )
        .with("gone", (db) =>
          db
            .deleteFrom("sliding_sync_positions")
            .where("user_id", "=", k.userId)
            .where("device_id", "=", k.deviceId)
            .where("conn_id", "=", k.connId)
            .where((eb) =>
              eb.or([
                eb("generation", "!=", p.generation),
                eb.and([
                  eb("seq", "!=", used),
                  eb.or([eb("base_seq", "is", null), eb("base_seq", "!=", used)]),
                ]),
              ]),
            ),
        )
        .insertInto("sliding_sync_positions")
        .columns([
          "user_id",
          "device_id",
          "conn_id",
          "generation",
          "seq",
          "base_seq",
          "state",
          "request_hash",
          "response",
          "created_ts",
        ])
        // Only while the connection is still this generation: nothing is written for a restarted one.
        .expression((eb) =>
          eb
            .selectFrom("touched")
            .select([
              eb.val(row.user_id).as("user_id"),
              eb.val(row.device_id).as("device_id"),
              eb.val(row.conn_id).as("conn_id"),
              eb.val(row.generation).as("generation"),
              eb.val(row.seq).as("seq"),
              eb.val(used).as("base_seq"),
              eb.val(row.state).as("state"),
              eb.val(row.request_hash).as("request_hash"),
              eb.val(row.response).as("response"),
              eb.val(row.created_ts).as("created_ts"),
            ]),
        )
        .returning("seq")
        .execute();
      if (inserted.length === 0) throw new ConnectionGone();
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
