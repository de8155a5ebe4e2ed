/** The room versions Nova creates and serves. Both use reference-hash event ids (versions ≥ 4). */
export const SUPPORTED_ROOM_VERSIONS = ["10", "11"] as const;
export type RoomVersion = (typeof SUPPORTED_ROOM_VERSIONS)[number];
export const DEFAULT_ROOM_VERSION: RoomVersion = "10";

export function isSupportedRoomVersion(v: string): v is RoomVersion {
  return (SUPPORTED_ROOM_VERSIONS as readonly string[]).includes(v);
}

/** Where the rules of the two versions differ (room version 11 = MSC2174, MSC2175, MSC2176, MSC3821, MSC3989). */
export type RoomVersionRules = {
  /** v11: `creator` is gone from m.room.create; the creator is the create event's sender. */
  createHasCreator: boolean;
  /** v11: `redacts` moves from the top level into the redaction's content. */
  redactsInContent: boolean;
  /** v11: the redaction algorithm keeps more content and fewer top-level keys. */
  redactionV11: boolean;
};

export function rulesFor(version: RoomVersion): RoomVersionRules {
  const v11 = version === "11";
  return { createHasCreator: !v11, redactsInContent: v11, redactionV11: v11 };
}
