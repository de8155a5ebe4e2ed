import { notFound } from "../../../companion-services/platform/errors.ts";
import type { TimestampsRepository } from "../storage/timestamps.repository.ts";
import type { StateReads } from "./state.ts";

const PAGE = 100;
/** How many events are looked at before giving up (a long run of events hidden from the caller). */
const MAX_SCANNED = 2_000;

/** GET /timestamp_to_event (spec v1.6): the closest event in a direction that the caller may see. */
export class TimestampReads {
  constructor(
    private readonly repo: TimestampsRepository,
    private readonly state: StateReads,
  ) {}

  async closest(
    userId: string,
    roomId: string,
    ts: number,
    dir: "f" | "b",
  ): Promise<{ event_id: string; origin_server_ts: number }> {
    // 403 unless the caller is (or was) in the room, or it is world-readable (as Synapse).
    await this.state.readableAt(userId, roomId);
    const visible = await this.state.visibleTo(userId, roomId);
    let after: { ts: number; position: number } | undefined;
    for (let scanned = 0; scanned < MAX_SCANNED; scanned += PAGE) {
      const rows = await this.repo.page(roomId, { ts, dir, limit: PAGE, after });
      const hit = rows.find((r) => visible(r));
      if (hit) return { event_id: hit.event_id, origin_server_ts: hit.origin_server_ts };
      if (rows.length < PAGE) break;
      const last = rows[rows.length - 1]!;
      after = { ts: last.origin_server_ts, position: last.stream_position };
    }
    throw notFound(`Unable to find event from ${ts} in direction ${dir}`);
  }
}
