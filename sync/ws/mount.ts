import { invalidParam } from "../../companion-services/platform/errors.ts";
import type { HttpServer } from "../../companion-services/platform/http/server.ts";
import type { NovaContext } from "../../server/context.ts";
import type { SyncEngine } from "../engine.ts";
import { LocalFanout } from "../fanout/local.ts";
import { RedisFanout } from "../fanout/redis.ts";
import type { Fanout } from "../fanout.ts";
import { applyEventFields, parseFilter } from "../filter.ts";
import { Filters } from "../filters/filters.ts";
import type { FilterTables } from "../filters/tables.ts";
import type { PresencePort } from "../presence-port.ts";
import type { SlidingSyncPort } from "../sliding-port.ts";
import { SyncSocketTransport } from "./transport.ts";

/** Deltas computed at once for all sockets of this process (each is several database reads). */
const COMPUTE_CONCURRENCY = 32;

/** How long a burst of deltas may keep the event loop before it lets I/O in. */
const SLICE_MS = 2;

/**
 * A FIFO semaphore that hands freed slots on at once for up to SLICE_MS, then in a later turn of
 * the event loop. Deltas computed from memory never wait for I/O, so handing slots on as
 * microtasks only would run a whole burst of woken sockets (thousands of deltas) in one go,
 * starving sends and database replies meanwhile; yielding after every one would leave the loop
 * mostly turning.
 */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private sliceStart = 0;
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // The slot passes to `next` as it is (still counted active), so no newcomer overtakes it.
      if (!next) this.active--;
      else if (performance.now() - this.sliceStart < SLICE_MS) next();
      else {
        setImmediate(() => {
          this.sliceStart = performance.now();
          next();
        });
      }
    }
  }
}

export type WebSocketSyncDeps = {
  /** The same engine /sync asks: the socket carries exactly what /sync carries. */
  engine: Pick<SyncEngine, "compute" | "currentToken" | "acknowledge">;
  /** Rooms whose writes wake the user (joined + invited), as /sync's long-poll uses. */
  roomsOf(userId: string): Promise<string[]>;
  /** Keeps a subscribed user's presence (see ConnectionDeps.holdPresence). */
  holdPresence?: PresencePort["hold"];
  /** Simplified sliding sync (server/sliding) for the socket's `sliding_sync` frames. */
  slidingSync?: SlidingSyncPort;
  /** Resolves a stored filter id (default: the filters stored by POST /user/{userId}/filter). */
  loadFilter?(userId: string, filterId: string): Promise<unknown | undefined>;
};

export type WebSocketSync = {
  fanout: Fanout;
  /** Registers the endpoint on the homeserver's uWS app; call before it listens. */
  attach(http: HttpServer): SyncSocketTransport;
};

/**
 * The WebSocket sync transport and cross-replica fan-out (issue 4). Fan-out starts here (with
 * Redis it first learns the other replicas' safe positions); the endpoint is attached to the HTTP
 * server once it exists. Shutdown: the HTTP server's drain tells sockets to reconnect (1012), then
 * `ctx.onClose` says goodbye to the other replicas.
 */
export async function mountWebSocketSync(ctx: NovaContext, deps: WebSocketSyncDeps): Promise<WebSocketSync> {
  const { config, logger } = ctx;
  const fanout: Fanout = config.redisUrl
    ? new RedisFanout({
        url: config.redisUrl,
        scope: config.databaseUrls.messaging ?? `pglite:${config.dataDir}:${process.pid}`,
        streams: ctx.streams,
        notifier: ctx.notifier,
        logger,
      })
    : new LocalFanout();
  await fanout.start();
  ctx.onClose(() => fanout.close());

  const filters = new Filters(ctx.databases.get<FilterTables>("messaging").db);
  const loadFilter =
    deps.loadFilter ?? ((userId: string, filterId: string) => filters.stored(userId, filterId));
  const resolveFilter = async (
    userId: string,
    filter: string | Record<string, unknown> | undefined,
  ): Promise<Record<string, unknown>> => {
    if (filter === undefined) return {};
    if (typeof filter !== "string") return parseFilter(filter) as Record<string, unknown>;
    const stored = await loadFilter(userId, filter);
    if (stored === undefined) throw invalidParam(`unknown filter: ${filter}`);
    return parseFilter(typeof stored === "string" ? JSON.parse(stored) : stored) as Record<string, unknown>;
  };

  const computeSlots = new Limiter(COMPUTE_CONCURRENCY);
  let transport: SyncSocketTransport | null = null;
  ctx.hooks.on("deviceRevoked", ({ userId, deviceId }) => transport?.closeDevice(userId, deviceId));

  return {
    fanout,
    attach(http) {
      transport = new SyncSocketTransport(
        {
          logger,
          authenticate: (token) => ctx.identity.verifyToken(token),
          currentToken: () => deps.engine.currentToken(),
          compute: async (req) => {
            // Bounded concurrency: a burst that wakes thousands of sockets queues here instead of
            // thrashing the database; each waiting socket's next delta then covers more events.
            const response = await computeSlots.run(() => deps.engine.compute(req));
            // As /sync does: the filter's event_fields apply to the finished response.
            applyEventFields(response, (req.filter as { event_fields?: string[] }).event_fields);
            return response;
          },
          acknowledge: (u, d, p) => deps.engine.acknowledge(u, d, p),
          subscribe: (u, rooms, target) => ctx.notifier.subscribe(u, rooms, target),
          roomsOf: deps.roomsOf,
          resolveFilter,
          ...(deps.holdPresence ? { holdPresence: deps.holdPresence } : {}),
          ...(deps.slidingSync ? { slidingSync: deps.slidingSync } : {}),
          dispatch: (call) => http.dispatch(call),
        },
        { deflate: config.wsDeflate, isDraining: () => http.isDraining() },
      );
      transport.attach(http.app);
      http.onDrain(() => transport?.shutdown());
      return transport;
    },
  };
}
