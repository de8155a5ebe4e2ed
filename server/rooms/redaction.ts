import { type RoomVersion, rulesFor } from "./room-versions.ts";

type Json = Record<string, unknown>;

/** Top-level keys the redaction algorithm keeps (room versions 10 and earlier since v3). */
const KEEP_TOP_V10 = new Set([
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
  [...KEEP_TOP_V10].filter((k) => k !== "origin" && k !== "membership" && k !== "prev_state"),
);

/** Content keys kept per event type; `true` keeps the whole content. */
function keptContent(type: string, version: RoomVersion): readonly string[] | true {
  const v11 = rulesFor(version).redactionV11;
  switch (type) {
    case "m.room.member":
      return v11
        ? ["membership", "join_authorised_via_users_server", "third_party_invite"]
        : ["membership", "join_authorised_via_users_server"];
    case "m.room.create":
      return v11 ? true : ["creator"];
    case "m.room.join_rules":
      return ["join_rule", "allow"];
    case "m.room.power_levels":
      return v11
        ? [
            "ban",
            "events",
            "events_default",
            "invite",
            "kick",
            "redact",
            "state_default",
            "users",
            "users_default",
          ]
        : ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];
    case "m.room.history_visibility":
      return ["history_visibility"];
    case "m.room.redaction":
      return v11 ? ["redacts"] : [];
    default:
      return [];
  }
}

/**
 * The redaction algorithm of the room version (spec: "Redactions"; room version 11 § Redactions):
 * strips every top-level key not on the list and every content key not protected for the type.
 * Returns a new object; `unsigned` is dropped like any unlisted key.
 */
export function redactEvent<T extends Json>(event: T, version: RoomVersion): Json {
  const keepTop = rulesFor(version).redactionV11 ? KEEP_TOP_V11 : KEEP_TOP_V10;
  const out: Json = {};
  for (const [k, v] of Object.entries(event)) if (keepTop.has(k)) out[k] = v;
  const content = (event.content ?? {}) as Json;
  const type = String(event.type ?? "");
  const kept = keptContent(type, version);
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
