import { type RedactionRules, type RoomVersion, rulesFor } from "./room-versions.ts";

type Json = Record<string, unknown>;

/** Top-level keys the redaction algorithm keeps (room versions 1–10). */
const KEEP_TOP_ORIGINAL = new Set([
  "event_id",
  "type",
  "room_id",
  "sender",
  "state_key",
  "content",
  "hashes",
  "signatures",
  "depth",
  "prev_events",
  "prev_state",
  "auth_events",
  "origin",
  "origin_server_ts",
  "membership",
]);

/** Room version 11 no longer protects origin, membership and prev_state (MSC2176). */
const KEEP_TOP_V11 = new Set(
  [...KEEP_TOP_ORIGINAL].filter((k) => k !== "origin" && k !== "membership" && k !== "prev_state"),
);

const PL_KEYS = [
  "ban",
  "events",
  "events_default",
  "kick",
  "redact",
  "state_default",
  "users",
  "users_default",
];

/** Content keys kept per event type; `true` keeps the whole content. */
function keptContent(type: string, r: RedactionRules): readonly string[] | true {
  switch (type) {
    case "m.room.member": {
      const keys = ["membership"];
      if (r.keepJoinAuthorisedVia) keys.push("join_authorised_via_users_server");
      if (r.keepThirdPartyInviteSigned) keys.push("third_party_invite");
      return keys;
    }
    case "m.room.create":
      return r.keepCreateContent ? true : ["creator"];
    case "m.room.join_rules":
      return r.keepJoinRulesAllow ? ["join_rule", "allow"] : ["join_rule"];
    case "m.room.power_levels":
      return r.keepRedactsAndInvite ? [...PL_KEYS, "invite"] : PL_KEYS;
    case "m.room.history_visibility":
      return ["history_visibility"];
    case "m.room.aliases":
      return r.keepAliases ? ["aliases"] : [];
    case "m.room.redaction":
      return r.keepRedactsAndInvite ? ["redacts"] : [];
    default:
      return [];
  }
}

/**
 * The redaction algorithm of the room version (spec "Redactions" and each room version's page):
 * strips every top-level key not on the list and every content key not protected for the type.
 * Returns a new object; `unsigned` is dropped like any unlisted key.
 */
export function redactEvent<T extends Json>(event: T, version: RoomVersion): Json {
  const r = rulesFor(version).redaction;
  const keepTop = r.keepOriginMembershipPrevState ? KEEP_TOP_ORIGINAL : KEEP_TOP_V11;
  const out: Json = {};
  for (const [k, v] of Object.entries(event)) if (keepTop.has(k)) out[k] = v;
  const content = (event.content ?? {}) as Json;
  const type = String(event.type ?? "");
  const kept = keptContent(type, r);
  if (kept === true) {
    out.content = { ...content };
  } else {
    const c: Json = {};
    for (const k of kept) {
      if (!(k in content)) continue;
      if (k === "third_party_invite") {
        // v11 keeps only the `signed` part of a third-party invite.
        const tpi = content[k];
        if (tpi && typeof tpi === "object" && "signed" in tpi) c[k] = { signed: (tpi as Json).signed };
        continue;
      }
      c[k] = content[k];
    }
    out.content = c;
  }
  return out;
}
