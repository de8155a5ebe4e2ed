import type { RoomsDb } from "../tables.ts";
import { EVENT_COLUMNS, type EventRow } from "./rows.ts";

export type TimedEventRow = EventRow & { origin_server_ts: number };

/** A room's events by origin_server_ts (messages_room_ts), for /timestamp_to_event. */
export class TimestampsRepository {
  constructor(private readonly db: RoomsDb) {}

  /**
   * Up to `limit` events from `ts` in direction `dir`: f — at or after it, oldest first; b — at or
   * before it, newest first; ties in stream order. `after` resumes past the last row of a page.
   */
  async page(
    roomId: string,
    opts: { ts: number; dir: "f" | "b"; limit: number; after?: { ts: number; position: number } },
  ): Promise<TimedEventRow[]> {
    const { dir, after } = opts;
    const cmp = dir === "f" ? ">" : "<";
    const order = dir === "f" ? "asc" : "desc";
    const rows = await this.db
      .selectFrom("messages")
      .select([...EVENT_COLUMNS, "origin_server_ts"])
      .where("room_id", "=", roomId)
      .where("origin_server_ts", dir === "f" ? ">=" : "<=", opts.ts)
      .$if(after !== undefined, (qb) =>
        qb.where((eb) =>
          eb.or([
            eb("origin_server_ts", cmp, after!.ts),
            eb.and([eb("origin_server_ts", "=", after!.ts), eb("stream_position", cmp, after!.position)]),
          ]),
        ),
      )
      .orderBy("origin_server_ts", order)
      .orderBy("stream_position", order)
      .limit(opts.limit)
      .execute();
    return rows.map((r) => ({
      ...r,
      stream_position: Number(r.stream_position),
      origin_server_ts: Number(r.origin_server_ts),
    }));
  }
}
