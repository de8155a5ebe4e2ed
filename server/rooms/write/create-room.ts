import { invalidParam, MatrixError } from "../../../companion-services/platform/errors.ts";
import { parseUserId } from "../../ids.ts";
import type { RoomsCore } from "../core.ts";
import { checkLocalUser, memberProfile } from "../membership/profiles.ts";
import { type CreateRoomRequest, createRoomDrafts } from "../room-creation.ts";
import { newRoomId } from "../room-ids.ts";
import { isSupportedRoomVersion, rulesFor } from "../room-versions.ts";
import type { RoomWriter } from "./persist.ts";

/** POST /createRoom: the room's first events and its alias, in one transaction. */
export class RoomCreator {
  constructor(
    private readonly core: RoomsCore,
    private readonly writer: RoomWriter,
  ) {}

  async createRoom(creator: string, req: CreateRoomRequest): Promise<{ roomId: string; alias?: string }> {
    const { ctx, repo, serverName } = this.core;
    const version = req.roomVersion ?? ctx.config.defaultRoomVersion;
    if (!isSupportedRoomVersion(version)) {
      throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${version} is not supported`);
    }
    const rules = rulesFor(version);
    const invites = (req.invite ?? []).map(parseUserId);
    for (const u of invites) checkLocalUser(serverName, u);
    const preset = req.preset ?? (req.visibility === "public" ? "public_chat" : "private_chat");
    let alias: string | undefined;
    if (req.roomAliasName !== undefined) {
      if (!/^[^\s:#]+$/.test(req.roomAliasName))
        throw invalidParam("room_alias_name may not contain ':', '#' or spaces");
      alias = `#${req.roomAliasName}:${serverName}`;
      if (alias.length > 255) throw invalidParam("room alias too long");
      if (await repo.conversations.getAlias(alias))
        throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
    }
    const roomId = newRoomId(serverName);
    const [creatorProfile, ...inviteeProfiles] = await Promise.all([
      memberProfile(ctx, creator),
      ...invites.map((u) => memberProfile(ctx, u)),
    ]);
    const drafts = createRoomDrafts({
      creator,
      req,
      rules,
      version,
      preset,
      invites,
      alias,
      creatorProfile,
      inviteeProfiles,
    });

    await this.writer.persist(
      roomId,
      () => ({
        drafts,
        extra: alias
          ? async (trx) => {
              if (!(await repo.conversations.insertAlias(trx, alias!, roomId, creator))) {
                throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
              }
            }
          : undefined,
      }),
      { newRoom: { version, creator, isPublic: req.visibility === "public" } },
    );
    return { roomId, alias };
  }
}
