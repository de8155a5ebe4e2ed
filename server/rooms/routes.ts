import { z } from "zod";
import {
  badJson,
  forbidden,
  fromZod,
  invalidParam,
  notFound,
} from "../../companion-services/platform/errors.ts";
import type { Request } from "../../companion-services/platform/http/router.ts";
import type { NovaContext } from "../context.ts";
import { type ClientEvent, normalizeRow, toClientEvent, type Viewer } from "./client-events.ts";
import type { RoomDirectory } from "./directory.ts";
import { membershipIn } from "./events.ts";
import { parseEventId, parseRoomAlias, parseRoomId, parseUserId } from "./ids.ts";
import { formatRoomToken, parseRoomToken } from "./pagination.ts";
import type { EventFilter, EventRow } from "./rooms.repository.ts";
import type { RoomsService } from "./service.ts";

const V3 = "/_matrix/client/v3";

const createRoomBody = z.object({
  visibility: z.enum(["public", "private"]).optional(),
  room_alias_name: z.string().min(1).max(200).optional(),
  name: z.string().max(1000).optional(),
  topic: z.string().max(10_000).optional(),
  invite: z.array(z.string()).max(500).optional(),
  invite_3pid: z.array(z.unknown()).optional(),
  room_version: z.string().optional(),
  creation_content: z.record(z.string(), z.unknown()).optional(),
  initial_state: z
    .array(
      z.object({
        type: z.string().min(1),
        state_key: z.string().optional(),
        content: z.record(z.string(), z.unknown()),
      }),
    )
    .max(100)
    .optional(),
  preset: z.enum(["private_chat", "public_chat", "trusted_private_chat"]).optional(),
  is_direct: z.boolean().optional(),
  power_level_content_override: z.record(z.string(), z.unknown()).optional(),
});

const reasonBody = z.object({ reason: z.string().max(1000).optional() });
const targetBody = z.object({ user_id: z.string(), reason: z.string().max(1000).optional() });
const aliasBody = z.object({ room_id: z.string() });
const visibilityBody = z.object({ visibility: z.enum(["public", "private"]) });
const publicRoomsBody = z.object({
  limit: z.number().int().min(0).optional(),
  since: z.string().optional(),
  server: z.string().optional(),
  filter: z
    .object({
      generic_search_term: z.string().optional(),
      room_types: z.array(z.string().nullable()).optional(),
    })
    .optional(),
  include_all_networks: z.boolean().optional(),
  third_party_instance_id: z.string().optional(),
});

/** RoomEventFilter as /messages and /context take it in `filter=` (spec "Filtering"). */
const roomEventFilter = z.object({
  limit: z.number().int().min(0).optional(),
  types: z.array(z.string()).optional(),
  not_types: z.array(z.string()).optional(),
  senders: z.array(z.string()).optional(),
  not_senders: z.array(z.string()).optional(),
  lazy_load_members: z.boolean().optional(),
  include_redundant_members: z.boolean().optional(),
});

type RoomEventFilter = z.infer<typeof roomEventFilter>;

function parseFilterParam(raw: string | null): RoomEventFilter {
  if (!raw) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalidParam("filter is not valid JSON");
  }
  const r = roomEventFilter.safeParse(value);
  if (!r.success) throw fromZod(r.error, "M_INVALID_PARAM");
  return r.data;
}

function sqlFilter(f: RoomEventFilter): EventFilter {
  return { types: f.types, notTypes: f.not_types, senders: f.senders, notSenders: f.not_senders };
}

function contentObject(req: Request): Record<string, unknown> {
  const v = req.anyJson();
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw badJson("Event content must be a JSON object");
  return v as Record<string, unknown>;
}

function intParam(req: Request, name: string, dflt: number, max: number): number {
  const raw = req.query.get(name);
  if (raw === null || raw === "") return dflt;
  if (!/^\d{1,9}$/.test(raw)) throw invalidParam(`${name} must be a non-negative integer`);
  return Math.min(Number(raw), max);
}

export function mountRoomRoutes(ctx: NovaContext, rooms: RoomsService, directory: RoomDirectory): void {
  const { router, config } = ctx;
  const eventBody = { maxBody: config.maxEventBody };
  const viewerOf = (req: Request): Viewer => ({ userId: req.auth!.userId, deviceId: req.auth!.deviceId });
  const roomParam = (req: Request) => parseRoomId(req.params.roomId!);

  router.post(`${V3}/createRoom`, async (req) => {
    const body = req.json(createRoomBody);
    const { roomId, alias } = await rooms.createRoom(req.auth!.userId, {
      visibility: body.visibility,
      roomAliasName: body.room_alias_name,
      name: body.name,
      topic: body.topic,
      invite: body.invite,
      roomVersion: body.room_version,
      creationContent: body.creation_content,
      initialState: body.initial_state,
      preset: body.preset,
      isDirect: body.is_direct,
      powerLevelContentOverride: body.power_level_content_override,
      invite3pidCount: body.invite_3pid?.length ?? 0,
    });
    return { body: alias ? { room_id: roomId, room_alias: alias } : { room_id: roomId } };
  });

  const join = async (req: Request, target: string) => {
    const body = req.json(reasonBody);
    if (!target.startsWith("#") && !target.startsWith("!")) throw invalidParam("Expected a room id or alias");
    if (target.startsWith("#")) parseRoomAlias(target);
    const roomId = await rooms.join(req.auth!.userId, target, body.reason);
    return { body: { room_id: roomId } };
  };
  router.post(`${V3}/join/:target`, (req) => join(req, req.params.target!));
  router.post(`${V3}/rooms/:roomId/join`, (req) => join(req, roomParam(req)));

  router.post(`${V3}/rooms/:roomId/leave`, async (req) => {
    const roomId = roomParam(req);
    const body = req.json(reasonBody);
    await rooms.leave(req.auth!.userId, roomId, body.reason);
    return { body: {} };
  });
  router.post(`${V3}/rooms/:roomId/forget`, async (req) => {
    await rooms.forget(req.auth!.userId, roomParam(req));
    return { body: {} };
  });
  for (const action of ["invite", "kick", "ban", "unban"] as const) {
    router.post(`${V3}/rooms/:roomId/${action}`, async (req) => {
      const roomId = roomParam(req);
      const body = req.json(targetBody);
      const target = parseUserId(body.user_id);
      const me = req.auth!.userId;
      if (action === "invite") await rooms.invite(me, roomId, target, body.reason);
      else if (action === "kick") await rooms.kick(me, roomId, target, body.reason);
      else if (action === "ban") await rooms.ban(me, roomId, target, body.reason);
      else await rooms.unban(me, roomId, target, body.reason);
      return { body: {} };
    });
  }

  router.get(`${V3}/joined_rooms`, async (req) => ({
    body: { joined_rooms: await rooms.joinedRoomIds(req.auth!.userId) },
  }));

  router.put(
    `${V3}/rooms/:roomId/send/:type/:txnId`,
    async (req) => {
      const roomId = roomParam(req);
      const content = contentObject(req);
      const eventId = await rooms.sendEvent(req.auth!.userId, roomId, req.params.type!, content, {
        txnId: req.params.txnId!,
        deviceId: req.auth!.deviceId,
      });
      return { body: { event_id: eventId } };
    },
    eventBody,
  );

  const putState = async (req: Request, stateKey: string) => {
    const roomId = roomParam(req);
    const content = contentObject(req);
    const eventId = await rooms.sendStateEvent(req.auth!.userId, roomId, req.params.type!, stateKey, content);
    return { body: { event_id: eventId } };
  };
  router.put(`${V3}/rooms/:roomId/state/:type`, (req) => putState(req, ""), eventBody);
  router.put(
    `${V3}/rooms/:roomId/state/:type/:stateKey`,
    (req) => putState(req, req.params.stateKey!),
    eventBody,
  );

  const getState = async (req: Request, stateKey: string) => {
    const roomId = roomParam(req);
    const type = req.params.type!;
    const { snap, position } = await rooms.readableAt(req.auth!.userId, roomId);
    if (position === null) {
      const ev = snap.get(type, stateKey);
      if (!ev) throw notFound("Event not found.");
      return { body: ev.pdu.content };
    }
    const rows = await rooms.repo.stateAt(roomId, position, [type]);
    const row = rows.find((r) => r.state_key === stateKey);
    if (!row) throw notFound("Event not found.");
    return { body: toClientEvent(normalizeRow(row), null).content };
  };
  router.get(`${V3}/rooms/:roomId/state/:type`, (req) => getState(req, ""));
  router.get(`${V3}/rooms/:roomId/state/:type/:stateKey`, (req) => getState(req, req.params.stateKey!));

  router.get(`${V3}/rooms/:roomId/state`, async (req) => {
    const roomId = roomParam(req);
    const { position } = await rooms.readableAt(req.auth!.userId, roomId);
    return { body: await rooms.stateEvents(roomId, position, viewerOf(req)) };
  });

  router.get(`${V3}/rooms/:roomId/members`, async (req) => {
    const roomId = roomParam(req);
    const { position } = await rooms.readableAt(req.auth!.userId, roomId);
    let at = position;
    const atParam = req.query.get("at");
    if (atParam) {
      const p = parseRoomToken(atParam);
      at = at === null ? p : Math.min(at, p);
    }
    const membership = req.query.get("membership");
    const notMembership = req.query.get("not_membership");
    const rows =
      at === null
        ? (await rooms.repo.currentState(roomId)).filter((r) => r.type === "m.room.member")
        : await rooms.repo.stateAt(roomId, at, ["m.room.member"]);
    const chunk = rows
      .map((r) => toClientEvent(normalizeRow(r), viewerOf(req)))
      .filter((e) => {
        const m = e.content.membership;
        if (membership && m !== membership) return false;
        if (notMembership && m === notMembership) return false;
        return true;
      });
    return { body: { chunk } };
  });

  router.get(`${V3}/rooms/:roomId/joined_members`, async (req) => {
    const roomId = roomParam(req);
    const { position } = await rooms.readableAt(req.auth!.userId, roomId);
    const rows =
      position === null
        ? (await rooms.repo.currentState(roomId)).filter((r) => r.type === "m.room.member")
        : await rooms.repo.stateAt(roomId, position, ["m.room.member"]);
    const joined: Record<string, { display_name?: string; avatar_url?: string }> = {};
    for (const r of rows) {
      const e = toClientEvent(normalizeRow(r), null);
      if (e.content.membership !== "join" || !e.state_key) continue;
      const info: { display_name?: string; avatar_url?: string } = {};
      if (typeof e.content.displayname === "string") info.display_name = e.content.displayname;
      if (typeof e.content.avatar_url === "string") info.avatar_url = e.content.avatar_url;
      joined[e.state_key] = info;
    }
    return { body: { joined } };
  });

  router.get(`${V3}/rooms/:roomId/messages`, async (req) => {
    const roomId = roomParam(req);
    const me = req.auth!.userId;
    await rooms.readableAt(me, roomId);
    const dirRaw = req.query.get("dir") ?? "b";
    if (dirRaw !== "b" && dirRaw !== "f") throw invalidParam("dir must be b or f");
    const dir = dirRaw;
    const filter = parseFilterParam(req.query.get("filter"));
    const limit = Math.max(1, Math.min(filter.limit ?? intParam(req, "limit", 10, 1000), 1000));
    const current = ctx.streams.current();
    const fromRaw = req.query.get("from");
    const toRaw = req.query.get("to");
    const from = fromRaw ? Math.min(parseRoomToken(fromRaw), current) : dir === "b" ? current : 0;
    let to = toRaw ? parseRoomToken(toRaw) : undefined;
    if (dir === "f") to = Math.min(to ?? current, current);
    const rows = (await rooms.repo.page(roomId, { from, dir, limit, to, filter: sqlFilter(filter) })).map(
      normalizeRow,
    );
    const visible = await rooms.visibleTo(me, roomId);
    const viewer = viewerOf(req);
    const chunk = rows.filter(visible).map((r) => toClientEvent(r, viewer));
    const body: Record<string, unknown> = { chunk, start: formatRoomToken(from) };
    if (rows.length === limit) {
      const last = rows[rows.length - 1]!.stream_position;
      body.end = formatRoomToken(dir === "b" ? last - 1 : last);
    }
    if (filter.lazy_load_members && chunk.length > 0) {
      body.state = await lazyMembers(rooms, roomId, chunk, viewer);
    }
    return { body };
  });

  router.get(`${V3}/rooms/:roomId/event/:eventId`, async (req) => {
    const roomId = roomParam(req);
    const eventId = parseEventId(req.params.eventId!);
    const row = await visibleEvent(rooms, req.auth!.userId, roomId, eventId);
    return { body: toClientEvent(row, viewerOf(req)) };
  });

  router.get(`${V3}/rooms/:roomId/context/:eventId`, async (req) => {
    const roomId = roomParam(req);
    const eventId = parseEventId(req.params.eventId!);
    const me = req.auth!.userId;
    const row = await visibleEvent(rooms, me, roomId, eventId);
    const filter = parseFilterParam(req.query.get("filter"));
    const limit = Math.min(intParam(req, "limit", 10, 100), 100);
    const beforeLimit = Math.floor(limit / 2);
    const afterLimit = limit - beforeLimit;
    const p = row.stream_position;
    const current = ctx.streams.current();
    const f = sqlFilter(filter);
    const [before, after] = await Promise.all([
      beforeLimit > 0
        ? rooms.repo.page(roomId, { from: p - 1, dir: "b", limit: beforeLimit, filter: f })
        : [],
      afterLimit > 0
        ? rooms.repo.page(roomId, { from: p, dir: "f", limit: afterLimit, to: current, filter: f })
        : [],
    ]);
    const visible = await rooms.visibleTo(me, roomId);
    const viewer = viewerOf(req);
    const b = before.map(normalizeRow);
    const a = after.map(normalizeRow);
    const start = b.length > 0 ? b[b.length - 1]!.stream_position - 1 : p - 1;
    const end = a.length > 0 ? a[a.length - 1]!.stream_position : p;
    const eventsBefore = b.filter(visible).map((r) => toClientEvent(r, viewer));
    const eventsAfter = a.filter(visible).map((r) => toClientEvent(r, viewer));
    let state: ClientEvent[] = (await rooms.repo.stateAt(roomId, end)).map((r) =>
      toClientEvent(normalizeRow(r), viewer),
    );
    if (filter.lazy_load_members) {
      const senders = new Set([
        me,
        row.sender,
        ...eventsBefore.map((e) => e.sender),
        ...eventsAfter.map((e) => e.sender),
      ]);
      state = state.filter((e) => e.type !== "m.room.member" || senders.has(e.state_key ?? ""));
    }
    return {
      body: {
        event: toClientEvent(row, viewer),
        events_before: eventsBefore,
        events_after: eventsAfter,
        start: formatRoomToken(start),
        end: formatRoomToken(end),
        state,
      },
    };
  });

  router.put(
    `${V3}/rooms/:roomId/redact/:eventId/:txnId`,
    async (req) => {
      const roomId = roomParam(req);
      const eventId = parseEventId(req.params.eventId!);
      const body = req.json(reasonBody);
      const content: Record<string, unknown> = body.reason !== undefined ? { reason: body.reason } : {};
      const id = await rooms.redact(req.auth!.userId, roomId, eventId, content, {
        txnId: req.params.txnId!,
        deviceId: req.auth!.deviceId,
      });
      return { body: { event_id: id } };
    },
    eventBody,
  );

  // ------------------------------------------------------------ directory
  router.get(
    `${V3}/directory/room/:alias`,
    async (req) => {
      const alias = parseRoomAlias(req.params.alias!);
      const row = await rooms.repo.getAlias(alias);
      if (!row) throw notFound("Room alias not found.");
      return { body: { room_id: row.room_id, servers: [config.serverName] } };
    },
    { auth: "optional" },
  );
  router.put(`${V3}/directory/room/:alias`, async (req) => {
    const alias = parseRoomAlias(req.params.alias!);
    const body = req.json(aliasBody);
    await directory.setAlias(req.auth!.userId, alias, parseRoomId(body.room_id));
    return { body: {} };
  });
  router.delete(`${V3}/directory/room/:alias`, async (req) => {
    const alias = parseRoomAlias(req.params.alias!);
    await directory.deleteAlias(req.auth!.userId, alias);
    return { body: {} };
  });
  router.get(`${V3}/rooms/:roomId/aliases`, async (req) => {
    const roomId = roomParam(req);
    const { position } = await rooms.readableAt(req.auth!.userId, roomId);
    if (position !== null) throw forbidden("You are not a member of this room.");
    return { body: { aliases: await rooms.repo.aliasesOf(roomId) } };
  });
  router.get(
    `${V3}/directory/list/room/:roomId`,
    async (req) => {
      const conv = await rooms.repo.getConversation(roomParam(req));
      if (!conv) throw notFound("Room not found.");
      return { body: { visibility: conv.is_public ? "public" : "private" } };
    },
    { auth: "none" },
  );
  router.put(`${V3}/directory/list/room/:roomId`, async (req) => {
    const roomId = roomParam(req);
    const body = req.json(visibilityBody);
    await directory.setDirectoryVisibility(req.auth!.userId, roomId, body.visibility);
    return { body: {} };
  });

  router.get(
    `${V3}/publicRooms`,
    async (req) => ({
      body: await directory.publicRooms({
        limit: req.query.get("limit") ? intParam(req, "limit", 0, 1000) : undefined,
        since: req.query.get("since") ?? undefined,
        server: req.query.get("server"),
      }),
    }),
    { auth: "optional" },
  );
  router.post(`${V3}/publicRooms`, async (req) => {
    const body = req.json(publicRoomsBody);
    return {
      body: await directory.publicRooms({
        limit: body.limit,
        since: body.since,
        term: body.filter?.generic_search_term,
        server: req.query.get("server") ?? body.server,
      }),
    };
  });
}

/** An event the user may see, or 404 (spec: not found or no permission look the same). */
async function visibleEvent(
  rooms: RoomsService,
  userId: string,
  roomId: string,
  eventId: string,
): Promise<EventRow> {
  const raw = await rooms.repo.getEvent(eventId);
  if (!raw || raw.room_id !== roomId) throw notFound("Event not found.");
  const row = normalizeRow(raw);
  const snap = await rooms.snapshot(roomId);
  const worldReadable =
    snap?.get("m.room.history_visibility", "")?.pdu.content.history_visibility === "world_readable";
  if (!worldReadable && snap && membershipIn(snap, userId) === null) throw notFound("Event not found.");
  const visible = await rooms.visibleTo(userId, roomId);
  if (!visible(row)) throw notFound("Event not found.");
  return row;
}

/** Member events of the chunk's senders (lazy_load_members). */
async function lazyMembers(
  rooms: RoomsService,
  roomId: string,
  chunk: ClientEvent[],
  viewer: Viewer,
): Promise<ClientEvent[]> {
  const senders = new Set(chunk.map((e) => e.sender));
  const rows = (await rooms.repo.currentState(roomId)).filter(
    (r) => r.type === "m.room.member" && r.state_key !== null && senders.has(r.state_key),
  );
  return rows.map((r) => toClientEvent(normalizeRow(r), viewer));
}

/**
 * The server's signing key as federation publishes it (spec server-server "Publishing Keys"), so
 * the signatures on Nova's events can be checked by anyone. Nova does not federate yet.
 */
export function mountKeyRoutes(ctx: NovaContext, rooms: RoomsService): void {
  ctx.router.get(
    "/_matrix/key/v2/server",
    async () => {
      const key = await rooms.signingKey();
      const body = key.signJson(ctx.config.serverName, {
        server_name: ctx.config.serverName,
        verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } },
        old_verify_keys: {},
        valid_until_ts: Date.now() + 7 * 24 * 3600 * 1000,
      });
      return { body };
    },
    { auth: "none" },
  );
}
