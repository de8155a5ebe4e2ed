/** The room versions Nova creates and serves: every stable version of the spec. */
export const SUPPORTED_ROOM_VERSIONS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"] as const;
export type RoomVersion = (typeof SUPPORTED_ROOM_VERSIONS)[number];
/** The version /createRoom uses without `room_version` (NOVA_DEFAULT_ROOM_VERSION may choose another). */
export const DEFAULT_ROOM_VERSION: RoomVersion = "10";

export function isSupportedRoomVersion(v: string): v is RoomVersion {
  return (SUPPORTED_ROOM_VERSIONS as readonly string[]).includes(v);
}

/** How the redaction algorithm of a version differs from the original one (room versions 1–5). */
export type RedactionRules = {
  /** v1–v5: m.room.aliases keeps `aliases` (v6 removes its special meaning). */
  keepAliases: boolean;
  /** v8+: m.room.join_rules keeps `allow` (restricted rooms). */
  keepJoinRulesAllow: boolean;
  /** v9+: m.room.member keeps `join_authorised_via_users_server`. */
  keepJoinAuthorisedVia: boolean;
  /** v11: the top level no longer protects origin, membership and prev_state (MSC2176). */
  keepOriginMembershipPrevState: boolean;
  /** v11: m.room.create keeps its whole content. */
  keepCreateContent: boolean;
  /** v11: m.room.redaction keeps content.redacts; m.room.power_levels keeps invite. */
  keepRedactsAndInvite: boolean;
  /** v11: m.room.member keeps third_party_invite.signed. */
  keepThirdPartyInviteSigned: boolean;
};

/**
 * Where the rules of the versions differ, as named flags (spec "Room versions" and each version's
 * page), so the algorithms ask what a rule is rather than compare version strings. State
 * resolution (v1 vs v2+) is not here: Nova's rooms have one server and one linear history.
 */
export type RoomVersionRules = {
  /**
   * How event ids are made: v1–v2 `$random:server` (carried in the event as `event_id`), v3 the
   * reference hash in standard unpadded base64 (ids can hold `/` and `+`), v4+ URL-safe base64.
   */
  eventIdFormat: "random" | "hash-base64" | "hash-urlsafe";
  /** v1–v5: m.room.aliases is authorised by the sender's domain matching the state key (auth rule 4). */
  specialCaseAliases: boolean;
  /** v6+: changes to power levels' `notifications` need the sender's level (auth rule 10.e). */
  notificationsPowerCheck: boolean;
  /** v6+: events must be canonical JSON: no floats, integers within ±(2^53-1). */
  strictCanonicalJson: boolean;
  /** v7+: `knock` membership and join rule. */
  knockAllowed: boolean;
  /** v8+: `restricted` join rule. */
  restrictedAllowed: boolean;
  /** v10+: `knock_restricted` join rule. */
  knockRestrictedAllowed: boolean;
  /** v10+: power levels must be integers; earlier versions also take strings holding an integer. */
  integerPowerLevels: boolean;
  /** v1–v10: `creator` in m.room.create; v11 uses the create event's sender. */
  createHasCreator: boolean;
  /** v11: `redacts` moves from the top level into the redaction's content. */
  redactsInContent: boolean;
  redaction: RedactionRules;
};

const RULES = new Map<RoomVersion, RoomVersionRules>(
  SUPPORTED_ROOM_VERSIONS.map((v) => [v, buildRules(Number(v))]),
);

function buildRules(n: number): RoomVersionRules {
  const v11 = n >= 11;
  return {
    eventIdFormat: n <= 2 ? "random" : n === 3 ? "hash-base64" : "hash-urlsafe",
    specialCaseAliases: n <= 5,
    notificationsPowerCheck: n >= 6,
    strictCanonicalJson: n >= 6,
    knockAllowed: n >= 7,
    restrictedAllowed: n >= 8,
    knockRestrictedAllowed: n >= 10,
    integerPowerLevels: n >= 10,
    createHasCreator: !v11,
    redactsInContent: v11,
    redaction: {
      keepAliases: n <= 5,
      keepJoinRulesAllow: n >= 8,
      keepJoinAuthorisedVia: n >= 9,
      keepOriginMembershipPrevState: !v11,
      keepCreateContent: v11,
      keepRedactsAndInvite: v11,
      keepThirdPartyInviteSigned: v11,
    },
  };
}

export function rulesFor(version: RoomVersion): RoomVersionRules {
  return RULES.get(version)!;
}
