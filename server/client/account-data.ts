import { appendEvents } from "../../companion-services/platform/outbox/writer.ts";
import type { StreamPositions } from "../../sync/stream-positions.ts";
import { accountEvent } from "../events.ts";
import { ignoredUsersOf } from "../rooms/ignored-users.ts";
import { AccountDataRepository, type AccountDataRow } from "./account-data.repository.ts";
import type { ClientDb } from "./tables.ts";

/** Account data kept by the server itself: clients may read it but write it only through its own API. */
export const SERVER_MANAGED_TYPES = new Set(["m.push_rules", "m.fully_read"]);

const IGNORED_USER_LIST = "m.ignored_user_list";
/** More than anyone ignores; the event stays well under the bus's record size. */
const MAX_PUBLISHED_IGNORES = 10_000;

function ignoredUsersEvent(userId: string, content: unknown) {
  const ids = [...ignoredUsersOf(content)]
    .filter((id) => id.startsWith("@") && id.length <= 255 && !id.includes("\u0000") && id !== userId)
    .slice(0, MAX_PUBLISHED_IGNORES);
  return accountEvent("account.ignored_users_changed", {
    user_id: userId,
    ignored_user_ids: ids,
    changed_at: Date.now(),
  });
}

/** Renders the content of types whose truth lives elsewhere (m.push_rules → the push-rule store). */
export type LiveContent = (userId: string, type: string) => Promise<unknown | undefined>;

/**
 * Account data: every write takes a stream position in the same transaction, then wakes the
 * owner's syncs, so the next /sync echoes it (clients wait for that echo).
 */
export class AccountDataService {
  private readonly repo: AccountDataRepository;
  private live: LiveContent = async () => undefined;

  constructor(
    private readonly db: ClientDb,
    private readonly streams: StreamPositions,
  ) {
    this.repo = new AccountDataRepository(db);
  }

  /** Lets the push-rule store supply m.push_rules content. */
  setLiveContent(fn: LiveContent): void {
    this.live = fn;
  }

  async set(userId: string, roomId: string | null, type: string, content: unknown): Promise<number> {
    const { position } = await this.streams.write(this.db, async (trx, pos, touch) => {
      await this.repo.upsert(trx, {
        userId,
        roomId: roomId ?? "",
        type,
        content,
        position: pos,
      });
      // Graph hides and refuses follows between users who ignore each other: it hears of the
      // list from this event, committed with the write.
      if (roomId === null && type === IGNORED_USER_LIST) {
        await appendEvents(trx, "messaging", [ignoredUsersEvent(userId, content)]);
      }
      touch({ userIds: [userId], kinds: ["account_data"] });
    });
    return position;
  }

  /** The current content, or undefined when the user never set it. */
  async get(userId: string, roomId: string | null, type: string): Promise<unknown | undefined> {
    if (roomId === null) {
      const live = await this.live(userId, type);
      if (live !== undefined) return live;
    }
    const row = await this.repo.get(userId, roomId ?? "", type);
    return row?.content;
  }

  /** Per-room account data of rooms the user just joined, as of `upTo`. */
  forRooms(userId: string, roomIds: string[], upTo: number): Promise<AccountDataRow[]> {
    return this.repo.forRooms(userId, roomIds, upTo);
  }

  /** Rows written in (from, to] (all when `from` is null), with live content substituted. */
  async changed(userId: string, from: number | null, to: number): Promise<AccountDataRow[]> {
    const rows = await this.repo.changed(userId, from, to);
    for (const r of rows) {
      if (r.room_id !== "") continue;
      const live = await this.live(userId, r.type);
      if (live !== undefined) r.content = live;
    }
    return rows;
  }
}
