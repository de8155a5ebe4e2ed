import { z } from "zod";
import { badJson, fromZod } from "../companion-services/platform/errors.ts";

/**
 * The Client-Server API's Filter (spec v1.11 §"Filtering"), validated with zod, and the helpers
 * /sync providers use to apply it. Unknown keys are kept (clients send unstable MSC fields).
 */

const idList = z.array(z.string().max(255)).max(1000);
/**
 * Synapse refuses a filter naming something that is not a user or room id (sytest "Check creating
 * invalid filters returns 4xx"): a typo would otherwise be stored and silently match nothing.
 */
const userIdList = z
  .array(
    z
      .string()
      .max(255)
      .regex(/^@[^:]+:.+$/, "not a user id"),
  )
  .max(1000);
const roomIdList = z
  .array(
    z
      .string()
      .max(255)
      .regex(/^![^:]+:.+$/, "not a room id"),
  )
  .max(1000);

export const eventFilterSchema = z
  .object({
    limit: z.number().int().min(0).max(10_000).optional(),
    types: idList.optional(),
    not_types: idList.optional(),
    senders: userIdList.optional(),
    not_senders: userIdList.optional(),
  })
  .passthrough();
export type EventFilter = z.infer<typeof eventFilterSchema>;

export const roomEventFilterSchema = eventFilterSchema
  .extend({
    rooms: roomIdList.optional(),
    not_rooms: roomIdList.optional(),
    contains_url: z.boolean().optional(),
    lazy_load_members: z.boolean().optional(),
    include_redundant_members: z.boolean().optional(),
    unread_thread_notifications: z.boolean().optional(),
  })
  .passthrough();
export type RoomEventFilter = z.infer<typeof roomEventFilterSchema>;

/** The spec's StateFilter has the same fields as RoomEventFilter. */
export const stateFilterSchema = roomEventFilterSchema;
export type StateFilter = RoomEventFilter;

export const roomFilterSchema = z
  .object({
    rooms: roomIdList.optional(),
    not_rooms: roomIdList.optional(),
    include_leave: z.boolean().optional(),
    ephemeral: roomEventFilterSchema.optional(),
    state: stateFilterSchema.optional(),
    timeline: roomEventFilterSchema.optional(),
    account_data: roomEventFilterSchema.optional(),
    /** The pre-r0 name of account_data, still validated as Synapse does. */
    private_user_data: roomEventFilterSchema.optional(),
  })
  .passthrough();
export type RoomFilter = z.infer<typeof roomFilterSchema>;

export const filterSchema = z
  .object({
    event_fields: z.array(z.string().max(255)).max(100).optional(),
    event_format: z.enum(["client", "federation"]).optional(),
    presence: eventFilterSchema.optional(),
    account_data: eventFilterSchema.optional(),
    room: roomFilterSchema.optional(),
  })
  .passthrough();
export type Filter = z.infer<typeof filterSchema>;

/** Validates a filter body; a filter that does not fit the schema is 400 M_BAD_JSON. */
export function parseFilter(value: unknown): Filter {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badJson("filter must be a JSON object");
  }
  const r = filterSchema.safeParse(value);
  if (!r.success) throw fromZod(r.error);
  return r.data;
}

/** A canonical JSON form (sorted keys) so identical filters are stored once per user. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const globCache = new Map<string, RegExp>();

/** `types`/`not_types` entries may use `*` as a wildcard (spec: "A '*' can be used as a wildcard"). */
export function typeMatches(pattern: string, type: string): boolean {
  if (!pattern.includes("*")) return pattern === type;
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split("*").map(escapeRegex).join(".*")}$`, "s");
    if (globCache.size > 1000) globCache.clear();
    globCache.set(pattern, re);
  }
  return re.test(type);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The minimum an event needs for filtering. */
export type FilterableEvent = {
  type: string;
  sender?: string;
  room_id?: string;
  content?: unknown;
};

/**
 * Whether an event passes an EventFilter / RoomEventFilter. Exclusions win over inclusions, as the
 * spec says for `not_*` lists.
 */
export function eventMatchesFilter(
  filter: RoomEventFilter | EventFilter | undefined,
  ev: FilterableEvent,
): boolean {
  if (!filter) return true;
  const f = filter as RoomEventFilter;
  if (ev.sender !== undefined) {
    if (f.not_senders?.includes(ev.sender)) return false;
    if (f.senders && !f.senders.includes(ev.sender)) return false;
  }
  if (f.not_types?.some((t) => typeMatches(t, ev.type))) return false;
  if (f.types && !f.types.some((t) => typeMatches(t, ev.type))) return false;
  if (ev.room_id !== undefined) {
    if (f.not_rooms?.includes(ev.room_id)) return false;
    if (f.rooms && !f.rooms.includes(ev.room_id)) return false;
  }
  if (f.contains_url !== undefined) {
    const url = (ev.content as { url?: unknown } | undefined)?.url;
    if (f.contains_url !== (typeof url === "string")) return false;
  }
  return true;
}

/** Filters a list and applies the filter's `limit` (keeping the latest entries, as timelines do). */
export function filterEvents<T extends FilterableEvent>(
  filter: RoomEventFilter | EventFilter | undefined,
  events: T[],
  keep: "first" | "last" = "first",
): T[] {
  const out = filter ? events.filter((e) => eventMatchesFilter(filter, e)) : events;
  const limit = filter?.limit;
  if (limit === undefined || out.length <= limit) return out;
  return keep === "first" ? out.slice(0, limit) : out.slice(out.length - limit);
}

/** Whether a room passes the room filter's `rooms` / `not_rooms`. */
export function roomAllowed(filter: Filter, roomId: string): boolean {
  const r = filter.room;
  if (!r) return true;
  if (r.not_rooms?.includes(roomId)) return false;
  if (r.rooms && !r.rooms.includes(roomId)) return false;
  return true;
}

/** Splits a dotted `event_fields` path; `\.` is a literal dot and `\\` a literal backslash. */
export function splitFieldPath(path: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\" && i + 1 < path.length) {
      cur += path[++i];
    } else if (c === ".") {
      parts.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

/** Keeps only the listed fields of an event (`event_fields`); no list means the whole event. */
export function pickEventFields(
  event: Record<string, unknown>,
  fields: string[] | undefined,
): Record<string, unknown> {
  if (!fields) return event;
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const path = splitFieldPath(field);
    let src: unknown = event;
    for (const key of path) {
      src =
        src !== null && typeof src === "object" && !Array.isArray(src)
          ? (src as Record<string, unknown>)[key]
          : undefined;
    }
    if (src === undefined) continue;
    let dst = out;
    for (const key of path.slice(0, -1)) {
      const next = dst[key];
      if (next === null || typeof next !== "object") dst[key] = {};
      dst = dst[key] as Record<string, unknown>;
    }
    dst[path[path.length - 1]!] = src;
  }
  return out;
}

/** The event lists of a sync response that `event_fields` applies to. */
const ROOM_SECTIONS = [
  "timeline",
  "state",
  "ephemeral",
  "account_data",
  "invite_state",
  "knock_state",
] as const;

/** Applies `event_fields` to every event of a /sync response in place. */
export function applyEventFields(response: Record<string, unknown>, fields: string[] | undefined): void {
  if (!fields) return;
  const mapList = (holder: unknown) => {
    const h = holder as { events?: unknown } | undefined;
    if (h && Array.isArray(h.events)) {
      h.events = h.events.map((e) =>
        e !== null && typeof e === "object" ? pickEventFields(e as Record<string, unknown>, fields) : e,
      );
    }
  };
  mapList(response.account_data);
  mapList(response.presence);
  const rooms = response.rooms as
    | Record<string, Record<string, Record<string, unknown>> | undefined>
    | undefined;
  for (const kind of Object.values(rooms ?? {})) {
    for (const room of Object.values(kind ?? {})) {
      for (const section of ROOM_SECTIONS) mapList(room[section]);
    }
  }
}
