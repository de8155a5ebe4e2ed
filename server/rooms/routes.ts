import { randomBytes } from "node:crypto";
import { z } from "zod";
import { badJson, fromZod, invalidParam } from "../../companion-services/platform/errors.ts";
import type { Request } from "../../companion-services/platform/http/router.ts";
import type { NovaContext } from "../context.ts";
import { parseEventId, parseRoomAlias, parseRoomId } from "../ids.ts";
import type { Viewer } from "./client-events.ts";
import { dropFromCanonicalAlias } from "./directory.ts";
import { parseRoomToken } from "./pagination.ts";
import type { RoomsApi } from "./service.ts";
import type { EventFilter } from "./storage/rows.ts";
import { thirdPartyInviteOf, thirdPartyInviteSchema } from "./third-party/routes.ts";

const V3 = "/_matrix/client/v3";

const createRoomBody = z.object({
  visibility: z.enum(["public", "private"]).optional(),
  room_alias_name: z.string().min(1).max(200).optional(),
  name: z.string().max(1000).optional(),
  topic: z.string().max(10_000).optional(),
  invite: z.array(z.string()).max(500).optional(),
  invite_3pid: z.array(thirdPartyInviteSchema).max(100).optional(),
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
const aliasBody = z.object({ room_id: z.string() });
const visibilityBody = z.object({ visibility: z.enum(["public", "private"]) });
const upgradeBody = z.object({ new_version: z.string().min(1).max(100) });
/** Synapse takes null for any of these as absent. */
const publicRoomsBody = z.object({
  limit: z.number().int().min(0).nullish(),
  since: z.string().nullish(),
  server: z.string().nullish(),
  filter: z
    .object({
      generic_search_term: z.string().nullish(),
      room_types: z.array(z.string().nullable()).nullish(),
    })
    .nullish(),
  include_all_networks: z.boolean().nullish(),
  third_party_instance_id: z.string().nullish(),
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

/**
 * What a shadow-banned user's send or invite answers (Synapse's ShadowBanError): a well-formed
 * event id of an event that was never stored, so the user cannot tell and nobody else sees it.
 */
function fakeEventId(): string {
  return `$${randomBytes(32).toString("base64url").slice(0, 43)}`;
}

export function mountRoomRoutes(ctx: NovaContext, rooms: RoomsApi): void {
  const { router, config } = ctx;
  const { directory } = rooms;
  const { state, timeline } = rooms.reads;
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
    });
    // As Synapse: the 3PID invites follow the room's creation, each as POST /invite would.
    for (const invite of body.invite_3pid ?? []) {
      if (req.auth!.shadowBanned) break;
      await rooms.inviteThirdParty(req.auth!.userId, roomId, thirdPartyInviteOf(invite));
    }
    return { body: alias ? { room_id: roomId, room_alias: alias } : { room_id: roomId } };
  });

  router.post(`${V3}/rooms/:roomId/upgrade`, async (req) => {
    const roomId = roomParam(req);
    const body = req.json(upgradeBody);
    return {
      body: { replacement_room: await rooms.upgradeRoom(req.auth!.userId, roomId, body.new_version) },
    };
  });

  router.get(`${V3}/joined_rooms`, async (req) => ({
    body: { joined_rooms: await rooms.joinedRoomIds(req.auth!.userId) },
  }));

  const send = async (req: Request, txnId: string | undefined) => {
    const roomId = roomParam(req);
    const content = contentObject(req);
    if (req.auth!.shadowBanned) return { body: { event_id: fakeEventId() } };
    const eventId = await rooms.sendEvent(req.auth!.userId, roomId, req.params.type!, content, {
      txnId,
      deviceId: req.auth!.deviceId,
    });
    return { body: { event_id: eventId } };
  };
  router.put(`${V3}/rooms/:roomId/send/:type/:txnId`, (req) => send(req, req.params.txnId!), eventBody);
  // The r0 form without a transaction id (Synapse still serves it): each request is a new event.
  router.post(`${V3}/rooms/:roomId/send/:type`, (req) => send(req, undefined), eventBody);

  const putState = async (req: Request, stateKey: string) => {
    const roomId = roomParam(req);
    const content = contentObject(req);
    if (req.auth!.shadowBanned) return { body: { event_id: fakeEventId() } };
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
    const format = req.query.get("format") ?? "content";
    if (format !== "content" && format !== "event") throw invalidParam("format must be content or event");
    const roomId = roomParam(req);
    const type = req.params.type!;
    return {
      body:
        format === "event"
          ? await state.stateClientEvent(req.auth!.userId, roomId, type, stateKey, viewerOf(req))
          : await state.stateContent(req.auth!.userId, roomId, type, stateKey),
    };
  };
  router.get(`${V3}/rooms/:roomId/state/:type`, (req) => getState(req, ""));
  router.get(`${V3}/rooms/:roomId/state/:type/:stateKey`, (req) => getState(req, req.params.stateKey!));

  router.get(`${V3}/rooms/:roomId/state`, async (req) => ({
    body: await state.readableState(req.auth!.userId, roomParam(req), viewerOf(req)),
  }));

  router.get(`${V3}/rooms/:roomId/members`, async (req) => {
    const chunk = await state.members(
      req.auth!.userId,
      roomParam(req),
      {
        at: req.query.get("at"),
        membership: req.query.get("membership"),
        notMembership: req.query.get("not_membership"),
      },
      viewerOf(req),
    );
    return { body: { chunk } };
  });

  router.get(`${V3}/rooms/:roomId/joined_members`, async (req) => ({
    body: { joined: await state.joinedMembersOf(req.auth!.userId, roomParam(req)) },
  }));

  router.get(`${V3}/rooms/:roomId/messages`, async (req) => {
    const roomId = roomParam(req);
    const me = req.auth!.userId;
    // A former member reads the room as it was when they left: pages end at their leave (Synapse).
    const { position: leftAt } = await rooms.readableAt(me, roomId);
    const dirRaw = req.query.get("dir") ?? "b";
    if (dirRaw !== "b" && dirRaw !== "f") throw invalidParam("dir must be b or f");
    const dir = dirRaw;
    const filter = parseFilterParam(req.query.get("filter"));
    const limit = Math.max(1, Math.min(filter.limit ?? intParam(req, "limit", 10, 1000), 1000));
    const current = leftAt ?? ctx.streams.current();
    const fromRaw = req.query.get("from");
    const toRaw = req.query.get("to");
    const from = fromRaw ? Math.min(parseRoomToken(fromRaw), current) : dir === "b" ? current : 0;
    let to = toRaw ? parseRoomToken(toRaw) : undefined;
    if (dir === "f") to = Math.min(to ?? current, current);
    const body = await timeline.messages(
      me,
      roomId,
      { from, dir, limit, to, filter: sqlFilter(filter), lazyLoadMembers: filter.lazy_load_members === true },
      viewerOf(req),
    );
    return { body };
  });

  router.get(`${V3}/rooms/:roomId/event/:eventId`, async (req) => {
    const roomId = roomParam(req);
    const eventId = parseEventId(req.params.eventId!);
    return { body: await timeline.event(req.auth!.userId, roomId, eventId, viewerOf(req)) };
  });

  router.get(`${V3}/rooms/:roomId/context/:eventId`, async (req) => {
    const roomId = roomParam(req);
    const eventId = parseEventId(req.params.eventId!);
    const me = req.auth!.userId;
    const row = await timeline.visibleEvent(me, roomId, eventId, "forbidden");
    const filter = parseFilterParam(req.query.get("filter"));
    const limit = Math.min(intParam(req, "limit", 10, 100), 100);
    const body = await timeline.context(
      me,
      row,
      { limit, filter: sqlFilter(filter), lazyLoadMembers: filter.lazy_load_members === true },
      ctx.streams.current(),
      viewerOf(req),
    );
    return { body };
  });

  const redact = async (req: Request, txnId: string | undefined) => {
    const roomId = roomParam(req);
    const eventId = parseEventId(req.params.eventId!);
    const body = req.json(reasonBody);
    const content: Record<string, unknown> = body.reason !== undefined ? { reason: body.reason } : {};
    const id = await rooms.redact(req.auth!.userId, roomId, eventId, content, {
      txnId,
      deviceId: req.auth!.deviceId,
    });
    return { body: { event_id: id } };
  };
  router.put(
    `${V3}/rooms/:roomId/redact/:eventId/:txnId`,
    (req) => redact(req, req.params.txnId!),
    eventBody,
  );
  router.post(`${V3}/rooms/:roomId/redact/:eventId`, (req) => redact(req, undefined), eventBody);

  // ------------------------------------------------------------ directory
  router.get(
    `${V3}/directory/room/:alias`,
    async (req) => {
      return { body: await directory.resolveAlias(parseRoomAlias(req.params.alias!)) };
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
    const roomId = await directory.deleteAlias(req.auth!.userId, alias);
    await dropFromCanonicalAlias(rooms, req.auth!.userId, roomId, alias);
    return { body: {} };
  });
  router.get(`${V3}/rooms/:roomId/aliases`, async (req) => {
    return { body: { aliases: await directory.aliases(req.auth!.userId, roomParam(req)) } };
  });
  router.get(
    `${V3}/directory/list/room/:roomId`,
    async (req) => {
      return { body: { visibility: await directory.directoryVisibility(roomParam(req)) } };
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
        limit: body.limit ?? undefined,
        since: body.since ?? undefined,
        term: body.filter?.generic_search_term ?? undefined,
        server: req.query.get("server") ?? body.server ?? null,
      }),
    };
  });
}

/**
 * The server's signing key as federation publishes it (spec server-server "Publishing Keys"), so
 * the signatures on Nova's events can be checked by anyone. Nova does not federate yet.
 */
export function mountKeyRoutes(ctx: NovaContext, rooms: RoomsApi): void {
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
