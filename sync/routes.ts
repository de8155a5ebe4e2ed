import { badJson, invalidParam, MatrixError } from "../companion-services/platform/errors.ts";
import type { NovaContext } from "../server/context.ts";
import type { RoomMembership } from "../server/rooms/membership.ts";
import { SyncEngine } from "./engine.ts";
import { applyEventFields, type Filter, parseFilter } from "./filter.ts";
import { Filters } from "./filters/filters.ts";
import { mountFilterRoutes } from "./filters/routes.ts";
import type { FilterTables } from "./filters/tables.ts";
import type { PresencePort, SyncPresenceState } from "./presence-port.ts";
import { formatSyncToken, parseSyncToken } from "./token.ts";

/** Longest long-poll a client may ask for; clients use 30 s. */
const MAX_TIMEOUT_MS = 5 * 60_000;
const FILTER_CACHE_MAX = 10_000;

/**
 * Mounts /sync and the filter API, and creates the SyncEngine over every registered provider.
 * Call after every area that registers a sync provider has mounted.
 */
export function mountSync(
  ctx: NovaContext,
  deps: { rooms: Pick<RoomMembership, "activeRoomIds">; presence?: PresencePort },
): SyncEngine {
  const { router } = ctx;
  const filters = new Filters(ctx.databases.get<FilterTables>("messaging").db);
  const engine = new SyncEngine(ctx.syncProviders, ctx.streams, ctx.notifier, ctx.ephemeral, (u) =>
    deps.rooms.activeRoomIds(u),
  );
  mountFilterRoutes(router, filters);

  const filterCache = new Map<string, Filter>();
  const loadFilter = async (userId: string, param: string | null): Promise<Filter> => {
    if (param === null || param === "") return {};
    if (param.startsWith("{")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(param);
      } catch {
        throw badJson("filter is not valid JSON");
      }
      return parseFilter(parsed);
    }
    // Stored filters never change, and clients name the same one on every sync: keep them parsed.
    const key = `${userId}\u0000${param}`;
    const cached = filterCache.get(key);
    if (cached) return cached;
    const stored = await filters.stored(userId, param);
    if (stored === undefined) throw invalidParam(`No such filter: ${param}`);
    const parsed = parseFilter(stored);
    if (filterCache.size >= FILTER_CACHE_MAX) filterCache.delete(filterCache.keys().next().value!);
    filterCache.set(key, parsed);
    return parsed;
  };

  router.get("/_matrix/client/v3/sync", async (req) => {
    const auth = req.auth!;
    const q = req.query;
    const timeoutMs = parseTimeout(q.get("timeout"));
    const fullState = parseBool(q.get("full_state"), "full_state");
    const setPresence = q.get("set_presence") ?? "online";
    if (!isPresenceState(setPresence))
      throw invalidParam("set_presence must be online, offline or unavailable");
    const filter = await loadFilter(auth.userId, q.get("filter"));
    const since = clampSince(engine, q.get("since"));
    await deps.presence?.syncing(auth.userId, setPresence);
    const response = await engine.sync({
      userId: auth.userId,
      deviceId: auth.deviceId,
      since,
      // full_state ignores the timeout (spec).
      timeoutMs: fullState ? 0 : timeoutMs,
      fullState,
      filter,
      aborted: req.aborted,
    });
    applyEventFields(response, filter.event_fields);
    return { body: response };
  });

  return engine;
}

function isPresenceState(s: string): s is SyncPresenceState {
  return s === "online" || s === "offline" || s === "unavailable";
}

function parseTimeout(s: string | null): number {
  if (s === null || s === "") return 0;
  if (!/^[0-9]+$/.test(s)) throw invalidParam("timeout must be a non-negative integer");
  return Math.min(Number(s), MAX_TIMEOUT_MS);
}

function parseBool(s: string | null, name: string): boolean {
  if (s === null || s === "" || s === "false") return false;
  if (s === "true") return true;
  throw new MatrixError(400, "M_INVALID_PARAM", `${name} must be true or false`);
}

/**
 * A token from the future (e.g. a database that was reset) is clamped to now rather than waiting
 * for positions that may never come (Synapse does the same); a malformed one is 400 M_INVALID_PARAM.
 */
function clampSince(engine: SyncEngine, since: string | null): string | null {
  if (since === null || since === "") return null;
  const t = parseSyncToken(since);
  const now = engine.currentToken();
  if (t.stream <= now.stream && t.typing <= now.typing) return since;
  return formatSyncToken({ stream: Math.min(t.stream, now.stream), typing: Math.min(t.typing, now.typing) });
}
