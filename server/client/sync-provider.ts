import { type Filter, filterEvents, roomAllowed } from "../../sync/filter.ts";
import type { SyncRequest, SyncResponse, SyncStreamProvider } from "../../sync/provider.ts";
import type { AccountDataService } from "./account-data.ts";
import type { PresenceService } from "./presence.ts";
import type { PushRulesService } from "./push-rules/push-rules.ts";
import type { ReceiptsService } from "./receipts.ts";
import type { ClientRooms } from "./rooms-port.ts";
import type { TypingService } from "./typing.ts";
import { renderCounts, type UnreadCounter, type UnreadRoomsPort } from "./unread.ts";

type JoinedRoom = Record<string, unknown> & {
  ephemeral?: { events: unknown[] };
  account_data?: { events: unknown[] };
};

/**
 * This area's part of /sync: top-level and per-room account data, typing and receipts
 * (rooms.join[id].ephemeral), presence of users sharing a room, and unread notification counts.
 * Registered after the rooms provider: it adds to the room entries that provider built, and creates
 * an entry only for a room where it has something to say.
 */
export class ClientSyncProvider implements SyncStreamProvider {
  readonly name = "client-config";

  constructor(
    private readonly rooms: ClientRooms,
    private readonly accountData: AccountDataService,
    private readonly typing: TypingService,
    private readonly receipts: ReceiptsService,
    private readonly presence: PresenceService,
    private readonly pushRules: PushRulesService,
    private readonly unread: UnreadCounter | null,
    private readonly positions: Pick<UnreadRoomsPort, "membershipPosition"> | null,
  ) {}

  async fill(req: SyncRequest, response: SyncResponse): Promise<void> {
    const filter = req.filter as Filter;
    const initial = req.since === null || req.fullState;
    const fromStream = initial ? null : req.since!.stream;
    const fromTyping = initial ? null : req.since!.typing;
    // Independent reads go out together (a PostgreSQL pool runs them in parallel).
    const changes = req.changes ?? null;
    const [joinedAll, rows] = await Promise.all([
      this.rooms.joinedRoomIds(req.userId),
      changes && !changes.forUser(req.userId, "account_data")
        ? []
        : this.accountData.changed(req.userId, fromStream, req.to.stream),
    ]);
    const joined = joinedAll.filter((r) => roomAllowed(filter, r));
    const joinedSet = new Set(joined);
    // Rooms joined inside this window get everything (receipts, room account data, typing), as on
    // an initial sync: the client has nothing for them yet.
    const fresh = new Set<string>();
    if (!initial && this.positions) {
      for (const roomId of Object.keys(response.rooms?.join ?? {})) {
        if (!joinedSet.has(roomId)) continue;
        const p = await this.positions.membershipPosition(roomId, req.userId);
        if (p !== null && p > fromStream!) fresh.add(roomId);
      }
    }

    // Account data.
    const global = rows.filter((r) => r.room_id === "").map((r) => ({ type: r.type, content: r.content }));
    if (initial && !global.some((e) => e.type === "m.push_rules")) {
      const content = await this.accountData.get(req.userId, null, "m.push_rules");
      if (content !== undefined) global.push({ type: "m.push_rules", content });
    }
    const globalEvents = filterEvents(filter.account_data, global);
    if (globalEvents.length > 0) response.account_data = { events: globalEvents };
    const roomAccountData = new Map<string, { type: string; content: unknown }[]>();
    const freshRows = fresh.size
      ? (await this.accountData.forRooms(req.userId, [...fresh], req.to.stream)).filter(
          (r) => Number(r.stream_pos) <= fromStream!,
        )
      : [];
    for (const r of [...freshRows, ...rows]) {
      if (r.room_id === "" || !joinedSet.has(r.room_id)) continue;
      const list = roomAccountData.get(r.room_id) ?? [];
      list.push({ type: r.type, content: r.content });
      roomAccountData.set(r.room_id, list);
    }
    for (const [roomId, events] of roomAccountData) {
      const kept = filterEvents(
        filter.room?.account_data,
        events.map((e) => ({ ...e, room_id: roomId })),
      );
      if (kept.length === 0) continue;
      const room = joinEntry(response, roomId);
      room.account_data = {
        events: [...(room.account_data?.events ?? []), ...kept.map(({ room_id, ...e }) => e)],
      };
    }

    // Ephemeral: typing and receipts.
    // Receipts: only rooms a receipt touched (all of them after the user's own private receipt).
    const receiptRooms = joined.filter((r) => !fresh.has(r));
    const receipts = await this.receipts.events(
      req.userId,
      changes && !changes.forUser(req.userId, "receipt")
        ? changes.roomsWith(receiptRooms, "receipt")
        : receiptRooms,
      fromStream,
      req.to.stream,
    );
    if (fresh.size) {
      for (const [roomId, c] of await this.receipts.events(req.userId, [...fresh], null, req.to.stream)) {
        receipts.set(roomId, c);
      }
    }
    for (const roomId of joined) {
      const since = fresh.has(roomId) ? null : fromTyping;
      const events: { type: string; content: unknown; room_id: string }[] = [];
      const changedAt = this.typing.changedAt(roomId);
      const typers = this.typing.typers(roomId);
      const typingChanged =
        changedAt <= req.to.typing && (since === null ? typers.length > 0 : changedAt > since);
      if (typingChanged) events.push({ type: "m.typing", content: { user_ids: typers }, room_id: roomId });
      const receipt = receipts.get(roomId);
      if (receipt) events.push({ type: "m.receipt", content: receipt, room_id: roomId });
      const kept = filterEvents(filter.room?.ephemeral, events);
      if (kept.length === 0) continue;
      const room = joinEntry(response, roomId);
      room.ephemeral = { events: [...(room.ephemeral?.events ?? []), ...kept.map(({ room_id, ...e }) => e)] };
    }

    // Unread notification counts for every joined room present in the response.
    const countRooms = Object.keys(response.rooms?.join ?? {}).filter((r) => joinedSet.has(r));
    if (this.unread && countRooms.length > 0) {
      const ruleset = await this.pushRules.cachedRuleset(req.userId);
      const all = await this.unread.countMany(req.userId, countRooms, req.to.stream, ruleset);
      const split = filter.room?.timeline?.unread_thread_notifications === true;
      for (const [roomId, counts] of all)
        Object.assign(response.rooms!.join![roomId]!, renderCounts(counts, split));
    }

    // Presence of users sharing a room (and the user's own); members of rooms joined in this
    // window are new to the client, so their current presence comes whatever its age.
    const events = [];
    if (this.presence.changedIn(fromTyping, req.to.typing)) {
      const sharing = await this.rooms.usersSharingRoomsWith(req.userId);
      events.push(...this.presence.events(new Set([...sharing, req.userId]), fromTyping, req.to.typing));
    }
    // People newly sharing a room with the user (Synapse's "newly joined or invited users"): the
    // members of rooms the user joined in this window, and those who joined or were invited to
    // the user's rooms in it (from the timelines already built).
    const newPeers = new Set<string>();
    for (const roomId of fresh) for (const u of await this.rooms.joinedMembers(roomId)) newPeers.add(u);
    if (!initial) for (const u of newcomers(response, joinedSet, fresh)) newPeers.add(u);
    newPeers.delete(req.userId);
    for (const e of events) newPeers.delete(e.sender);
    if (newPeers.size > 0) events.push(...this.presence.current(newPeers, req.to.typing));
    const presence = filterEvents(filter.presence, events);
    if (presence.length > 0) response.presence = { events: presence };
  }
}

/** Users whose membership event in a joined room's timeline made them join or be invited. */
function newcomers(
  response: SyncResponse,
  joined: ReadonlySet<string>,
  skip: ReadonlySet<string>,
): Set<string> {
  const out = new Set<string>();
  for (const [roomId, room] of Object.entries(response.rooms?.join ?? {})) {
    if (!joined.has(roomId) || skip.has(roomId)) continue;
    const events = (room.timeline as { events?: TimelineEvent[] } | undefined)?.events ?? [];
    for (const e of events) {
      if (e.type !== "m.room.member" || typeof e.state_key !== "string") continue;
      const now = e.content?.membership;
      const before = e.unsigned?.prev_content?.membership;
      if ((now === "join" || now === "invite") && before !== "join" && before !== now) out.add(e.state_key);
    }
  }
  return out;
}

type TimelineEvent = {
  type: string;
  state_key?: string;
  content?: { membership?: unknown };
  unsigned?: { prev_content?: { membership?: unknown } };
};

/** The room's join entry, created (with the fields clients expect) when the rooms provider made none. */
function joinEntry(response: SyncResponse, roomId: string): JoinedRoom {
  response.rooms ??= {};
  response.rooms.join ??= {};
  let room = response.rooms.join[roomId] as JoinedRoom | undefined;
  if (!room) {
    room = {
      timeline: { events: [], limited: false, prev_batch: response.next_batch },
      state: { events: [] },
    };
    response.rooms.join[roomId] = room;
  }
  return room;
}
