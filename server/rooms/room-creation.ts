import { invalidParam } from "../../companion-services/platform/errors.ts";
import type { Draft } from "./draft.ts";
import type { RoomVersion, RoomVersionRules } from "./room-versions.ts";

export type Preset = "private_chat" | "public_chat" | "trusted_private_chat";

/** /createRoom's body, already validated by the route. */
export type CreateRoomRequest = {
  visibility?: "public" | "private";
  roomAliasName?: string;
  name?: string;
  topic?: string;
  invite?: string[];
  roomVersion?: string;
  creationContent?: Record<string, unknown>;
  initialState?: { type: string; state_key?: string; content: Record<string, unknown> }[];
  preset?: Preset;
  isDirect?: boolean;
  powerLevelContentOverride?: Record<string, unknown>;
};

/** Power levels of a new room before power_level_content_override (Synapse's defaults). */
function defaultPowerLevels(creator: string, preset: Preset, invites: string[]): Record<string, unknown> {
  const users: Record<string, number> = { [creator]: 100 };
  if (preset === "trusted_private_chat") for (const u of invites) users[u] = 100;
  return {
    users,
    users_default: 0,
    events: {
      "m.room.name": 50,
      "m.room.power_levels": 100,
      "m.room.history_visibility": 100,
      "m.room.canonical_alias": 50,
      "m.room.avatar": 50,
      "m.room.tombstone": 100,
      "m.room.server_acl": 100,
      "m.room.encryption": 100,
    },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    // Synapse's private presets override its default of 50 with 0: any member may invite.
    invite: preset === "public_chat" ? 50 : 0,
    notifications: { room: 50 },
  };
}

/**
 * The events of /createRoom in the spec's order: create, the creator's join, power levels (with
 * the override), canonical alias, the preset's join rules / history visibility / guest access,
 * initial_state, name, topic, then the invites. Anything in initial_state replaces the preset's.
 */
export function createRoomDrafts(input: {
  creator: string;
  req: CreateRoomRequest;
  rules: RoomVersionRules;
  version: RoomVersion;
  preset: Preset;
  invites: string[];
  alias: string | undefined;
  creatorProfile: Record<string, string>;
  inviteeProfiles: Record<string, string>[];
}): Draft[] {
  const { creator, req, rules, version, preset, invites, alias, creatorProfile, inviteeProfiles } = input;
  const initial = req.initialState ?? [];
  const initialKeys = new Set(initial.map((e) => `${e.type}\u0000${e.state_key ?? ""}`));
  const hasInitial = (type: string) => initialKeys.has(`${type}\u0000`);

  const createContent: Record<string, unknown> = { ...(req.creationContent ?? {}), room_version: version };
  if (rules.createHasCreator) createContent.creator = creator;
  else delete createContent.creator;

  const drafts: Draft[] = [
    { type: "m.room.create", stateKey: "", content: createContent, sender: creator },
    {
      type: "m.room.member",
      stateKey: creator,
      content: { membership: "join", ...creatorProfile },
      sender: creator,
    },
  ];
  if (!hasInitial("m.room.power_levels")) {
    const pl = { ...defaultPowerLevels(creator, preset, invites), ...(req.powerLevelContentOverride ?? {}) };
    drafts.push({ type: "m.room.power_levels", stateKey: "", content: pl, sender: creator });
  }
  if (alias)
    drafts.push({ type: "m.room.canonical_alias", stateKey: "", content: { alias }, sender: creator });
  if (!hasInitial("m.room.join_rules")) {
    drafts.push({
      type: "m.room.join_rules",
      stateKey: "",
      content: { join_rule: preset === "public_chat" ? "public" : "invite" },
      sender: creator,
    });
  }
  if (!hasInitial("m.room.history_visibility")) {
    drafts.push({
      type: "m.room.history_visibility",
      stateKey: "",
      content: { history_visibility: "shared" },
      sender: creator,
    });
  }
  if (preset !== "public_chat" && !hasInitial("m.room.guest_access")) {
    drafts.push({
      type: "m.room.guest_access",
      stateKey: "",
      content: { guest_access: "can_join" },
      sender: creator,
    });
  }
  for (const e of initial) {
    if (e.type === "m.room.create" || e.type === "m.room.member") {
      throw invalidParam(`initial_state may not contain ${e.type}`);
    }
    checkEventType(e.type);
    drafts.push({ type: e.type, stateKey: e.state_key ?? "", content: e.content, sender: creator });
  }
  if (req.name !== undefined)
    drafts.push({ type: "m.room.name", stateKey: "", content: { name: req.name }, sender: creator });
  if (req.topic !== undefined) {
    drafts.push({
      type: "m.room.topic",
      stateKey: "",
      content: { topic: req.topic, "m.topic": [{ body: req.topic, mimetype: "text/plain" }] },
      sender: creator,
    });
  }
  invites.forEach((u, i) => {
    if (u === creator) return;
    const content: Record<string, unknown> = { membership: "invite", ...inviteeProfiles[i] };
    if (req.isDirect) content.is_direct = true;
    drafts.push({ type: "m.room.member", stateKey: u, content, sender: creator });
  });

  return drafts;
}

function checkEventType(type: string): void {
  if (type.length === 0 || Buffer.byteLength(type) > 255)
    throw invalidParam("Event type must be 1–255 bytes.");
}
