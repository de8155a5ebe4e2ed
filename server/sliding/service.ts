import { createHash, randomBytes, randomInt } from "node:crypto";
import type { Logger } from "../../companion-services/platform/logger.ts";
import { ChangeGuardedCache } from "../../sync/changes.ts";
import type { Notifier } from "../../sync/notifier.ts";
import type { SyncToken } from "../../sync/token.ts";
import type { AccountDataService } from "../client/account-data.ts";
import { canonicalJson } from "../rooms/canonical-json.ts";
import type { RoomsApi } from "../rooms/service.ts";
import {
  type ConnectionState,
  extensionCursorOf,
  formatPos,
  parsePos,
  type RoomCursor,
  unknownPos,
} from "./connection-state.ts";
import { ConnectionGone, type ConnectionKey, type ConnectionsRepository } from "./connections.repository.ts";
import type { SlidingExtensions } from "./extensions/index.ts";
import { withAcknowledged } from "./extensions/to-device.ts";
import { RoomListing } from "./listing.ts";
import { computeSeconds, responses } from "./metrics.ts";
import type { PositionStore } from "./position-store.ts";
import { type BuildContext, RoomResults } from "./room-result.ts";
import type { SlidingSyncBody } from "./schema.ts";
import { applySticky } from "./sticky.ts";
import { buildWindow, roomFacts } from "./window.ts";

export type UnreadCounts = (
  userId: string,
  roomIds: string[],
  upTo: number,
) => Promise<Map<string, { notification_count: number; highlight_count: number }>>;

export type SlidingDeps = {
  rooms: RoomsApi;
  accountData: Pick<AccountDataService, "get" | "forRooms">;
  extensions: SlidingExtensions;
  unread: UnreadCounts;
  notifier: Notifier;
  currentToken: () => SyncToken;
  positions: PositionStore;
  repo: ConnectionsRepository;
  logger: Logger;
};

export type SlidingRequest = {
  userId: string;
  deviceId: string;
  body: SlidingSyncBody;
  pos: string | null;
  timeoutMs: number;
  aborted?: Promise<void>;
  /** The WebSocket's to_device acknowledgement, read at each computation (see withAcknowledged). */
  toDeviceAcknowledged?: () => string;
};

type Base = { generation: string; seq: number; state: ConnectionState };
type Computed = { response: Record<string, unknown>; state: ConnectionState; hasData: boolean };

/** A device keeps at most this many connections (MSC4186 security section); the oldest go. */
const MAX_CONNECTIONS_PER_DEVICE = 10;

/**
 * Simplified sliding sync (MSC4186): each response is computed against the connection state of
 * the `pos` it answers, and recorded as a new position before it is sent. A retry with the same
 * `pos` and body gets the same response; a changed body with the same `pos` is computed again
 * from the same base (checklist §5.3).
 */
export class SlidingSyncService {
  private readonly listing: RoomListing;
  private readonly results: RoomResults;
  private readonly direct: ChangeGuardedCache<Set<string>>;
  private draining = false;
  private readonly polling = new Set<() => void>();

  constructor(private readonly deps: SlidingDeps) {
    this.listing = new RoomListing(deps.rooms, deps.notifier.changes);
    this.results = new RoomResults(deps.rooms);
    this.direct = new ChangeGuardedCache(
      deps.notifier.changes,
      () => deps.currentToken().stream,
      "account_data",
    );
  }

  /** SIGTERM: long-polls answer now with what they have. */
  drain(): void {
    this.draining = true;
    for (const stop of this.polling) stop();
  }

  async sync(req: SlidingRequest): Promise<Record<string, unknown>> {
    const key: ConnectionKey = { userId: req.userId, deviceId: req.deviceId, connId: req.body.conn_id ?? "" };
    const requestHash = hashRequest(req.body);
    let base: Base | null = null;
    if (req.pos !== null) {
      const p = parsePos(req.pos);
      const { at, answered } = await this.deps.positions.positions(key, p.generation, p.seq);
      if (!at) {
        responses.inc({ outcome: "unknown_pos" });
        throw unknownPos();
      }
      if (answered?.response && answered.requestHash === requestHash) {
        responses.inc({ outcome: "replay" });
        return JSON.parse(answered.response) as Record<string, unknown>;
      }
      base = { generation: p.generation, seq: p.seq, state: at.state };
    }

    const deadline = Date.now() + req.timeoutMs;
    let stop!: () => void;
    let gone = false;
    const stopped = new Promise<void>((r) => {
      stop = r;
    });
    req.aborted?.then(() => {
      gone = true;
      stop();
    });
    this.polling.add(stop);
    try {
      for (;;) {
        const to = this.deps.currentToken();
        const started = performance.now();
        const body = req.toDeviceAcknowledged
          ? withAcknowledged(req.body, req.toDeviceAcknowledged())
          : req.body;
        const computed = await this.compute(key, body, base?.state ?? null, to);
        computeSeconds.observe(
          { kind: base ? "incremental" : "initial" },
          (performance.now() - started) / 1000,
        );
        // Nobody will read it: no position is recorded (the client retries its pos elsewhere).
        if (gone) return computed.response;
        const remaining = deadline - Date.now();
        if (base === null || computed.hasData || remaining <= 0 || this.draining) {
          return await this.record(key, base, computed, requestHash);
        }
        const rooms = await this.deps.rooms.activeRoomIds(req.userId);
        const now = this.deps.currentToken();
        if (now.stream !== to.stream || now.typing !== to.typing) continue;
        const woken = await this.deps.notifier.wait(req.userId, rooms, remaining, stopped);
        if (gone) return computed.response;
        if (!woken) {
          const last = this.deps.currentToken();
          if (last.stream === to.stream && last.typing === to.typing)
            return await this.record(key, base, computed, requestHash);
        }
      }
    } finally {
      this.polling.delete(stop);
    }
  }

  /** Stores the new position, then hands out the response carrying it. */
  private async record(
    key: ConnectionKey,
    base: Base | null,
    computed: Computed,
    requestHash: string,
  ): Promise<Record<string, unknown>> {
    const generation = base?.generation ?? randomBytes(8).toString("hex");
    responses.inc({ outcome: computed.hasData || !base ? "data" : "empty" });
    if (!base) await this.limitConnections(key);
    // Random, not counted: two answers to one pos are two positions without a shared counter.
    const seq = randomInt(1, 2 ** 31 - 1);
    const response = { pos: formatPos(generation, seq), ...computed.response };
    try {
      await this.deps.positions.save(
        key,
        { generation, seq, state: computed.state, requestHash, response: JSON.stringify(response) },
        { restart: base === null, usedSeq: base?.seq ?? null, now: Date.now() },
      );
    } catch (err) {
      if (err instanceof ConnectionGone) throw unknownPos();
      throw err;
    }
    return response;
  }

  private async limitConnections(key: ConnectionKey): Promise<void> {
    const conns = (await this.deps.repo.connectionsOf(key.userId, key.deviceId)).filter(
      (c) => c.conn_id !== key.connId,
    );
    const excess = conns.length - (MAX_CONNECTIONS_PER_DEVICE - 1);
    for (const c of conns.slice(0, Math.max(0, excess))) {
      await this.deps.positions.forget({ userId: key.userId, deviceId: key.deviceId, connId: c.conn_id });
    }
  }

  /** One response against `from` (null: a new connection), without waiting. */
  async compute(
    key: ConnectionKey,
    body: SlidingSyncBody,
    from: ConnectionState | null,
    to: SyncToken,
  ): Promise<Computed> {
    const { userId, deviceId } = key;
    const { rooms, accountData } = this.deps;
    const { body: effective, params } = applySticky(body, from);
    body = effective;
    const { listed, all } = await this.listing.list(userId, to.stream, from);
    const facts = roomFacts(rooms, accountData, userId, listed, to.stream, this.direct);
    const window = await buildWindow(body, userId, listed, all, facts);
    const ctx: BuildContext = {
      userId,
      viewer: { userId, deviceId },
      from,
      to: to.stream,
      ignored: await rooms.ignoredBy(userId),
      logger: this.deps.logger,
      direct: window.direct,
      unreadCounts: (ids) => this.deps.unread(userId, ids, to.stream),
    };
    const built = await this.results.build(window.plans, ctx);

    const roomSince = new Map<string, SyncToken | null>();
    const initialTimelines = new Map<string, string[]>();
    for (const [roomId, b] of built) {
      roomSince.set(roomId, b.initialTimeline ? null : from ? extensionCursorOf(from, roomId) : null);
      if (b.initialTimeline) initialTimelines.set(roomId, b.initialTimeline);
    }
    const ext = await this.deps.extensions.compute(body.extensions, {
      userId,
      deviceId,
      from: from ? { stream: from.stream, typing: from.typing } : null,
      to,
      lists: window.lists,
      subscriptions: window.subscriptions,
      roomSince,
      initialTimelines,
    });

    const roomsOut: Record<string, unknown> = {};
    for (const [roomId, b] of built) if (b.json) roomsOut[roomId] = b.json;
    const lists: Record<string, { count: number }> = {};
    for (const [name, count] of Object.entries(window.counts)) lists[name] = { count };
    const countsMoved = !from || Object.entries(window.counts).some(([n, c]) => from.counts[n] !== c);
    const response: Record<string, unknown> = { lists, rooms: roomsOut, extensions: ext.extensions };
    if (body.txn_id != null) response.txn_id = body.txn_id;
    return {
      response,
      state: { ...nextState(from, to, window.configs, built, all, window.counts), params },
      hasData: Object.keys(roomsOut).length > 0 || ext.hasData || countsMoved,
    };
  }
}

/**
 * The connection state after a response: rooms of the window are live at `to`; rooms that were
 * live and left the window keep the cursors of the last position they were live at; rooms the
 * user no longer has any membership in are forgotten. Config indexes are renumbered densely.
 */
function nextState(
  from: ConnectionState | null,
  to: SyncToken,
  windowConfigs: string[],
  built: Map<string, { cursor: RoomCursor }>,
  all: ReadonlyMap<string, unknown>,
  counts: Record<string, number>,
): ConnectionState {
  const configs: string[] = [];
  const index = new Map<string, number>();
  const intern = (k: string) => {
    let i = index.get(k);
    if (i === undefined) {
      i = configs.length;
      configs.push(k);
      index.set(k, i);
    }
    return i;
  };
  const rooms: Record<string, RoomCursor> = {};
  for (const [roomId, c] of Object.entries(from?.rooms ?? {})) {
    if (built.has(roomId) || !all.has(roomId)) continue;
    const r = intern(from!.configs[c.r] ?? windowConfigs[0] ?? "");
    rooms[roomId] =
      c.v === 1 ? { ...c, v: undefined, t: from!.stream, e: [from!.stream, from!.typing], r } : { ...c, r };
    delete rooms[roomId]!.v;
  }
  for (const [roomId, b] of built) rooms[roomId] = { ...b.cursor, r: intern(windowConfigs[b.cursor.r]!) };
  return { stream: to.stream, typing: to.typing, configs, rooms, counts };
}

/** What makes two requests the same request: the body without the fields of the query string. */
function hashRequest(body: SlidingSyncBody): string {
  const { pos: _p, timeout: _t, set_presence: _s, ...rest } = body;
  let text: string;
  try {
    text = canonicalJson(rest);
  } catch {
    // Fields outside canonical JSON's domain (floats in unknown keys): a stable enough key still.
    text = JSON.stringify(rest);
  }
  return createHash("sha256").update(text).digest("base64");
}
