import { forbidden, notFound } from "../../../companion-services/platform/errors.ts";
import { parseUserId } from "../../ids.ts";
import type { RoomsCore } from "../core.ts";
import { membershipIn } from "../events.ts";
import { checkLocalUser, memberProfile } from "../membership/profiles.ts";
import type { MembershipVerbs } from "../membership/verbs.ts";
import { userLevel } from "../power-levels.ts";
import type { RoomSnapshot } from "../room-snapshot.ts";
import type { RoomWriter } from "../write/persist.ts";
import type { IdentityServerClient } from "./identity-server.ts";
import { verifyingKey } from "./signed-invite.ts";

export type ThirdPartyInviteRequest = {
  idServer: string;
  idAccessToken: string;
  medium: string;
  address: string;
};

/** `third_party_signed` of a join, or `signed` of an identity server's onbind invite. */
export type SignedInvite = { mxid: string; token: string; signatures: Record<string, unknown> } & Record<
  string,
  unknown
>;

/**
 * Third-party invites (spec client-server "Third-party invites"): an invite addressed to an email
 * or phone number, looked up at the identity server the client names. A bound 3PID becomes a
 * normal invite of its user; an unbound one is stored at the identity server and recorded as an
 * m.room.third_party_invite whose token the identity server later signs for the user who binds it
 * (onbind), or the user presents on /join; either is exchanged here for an invite of that user.
 */
export class ThirdPartyInvites {
  constructor(
    private readonly core: RoomsCore,
    private readonly writer: RoomWriter,
    private readonly verbs: MembershipVerbs,
    private readonly identityServers: IdentityServerClient,
  ) {}

  async invite(sender: string, roomId: string, req: ThirdPartyInviteRequest): Promise<void> {
    // Refused before the identity server learns anything of the invite.
    const snap = await this.core.snapshots.get(roomId);
    if (!snap || membershipIn(snap, sender) !== "join") throw forbidden("You are not in this room.");
    if (userLevel(snap.powerLevels(), sender) < snap.powerLevels().invite)
      throw forbidden("You do not have permission to invite users to this room.");
    const { idServer, idAccessToken, medium, address } = req;
    const mxid = await this.identityServers.lookup(idServer, idAccessToken, medium, address);
    if (mxid !== null) {
      await this.verbs.invite(sender, roomId, parseUserId(mxid));
      return;
    }
    const stored = await this.identityServers.storeInvite(idServer, idAccessToken, {
      medium,
      address,
      room_id: roomId,
      sender,
      ...(await this.inviteContext(snap, sender)),
    });
    await this.writer.persist(roomId, () => ({
      drafts: [
        {
          type: "m.room.third_party_invite",
          stateKey: stored.token,
          sender,
          content: {
            display_name: stored.displayName,
            public_keys: stored.publicKeys,
            key_validity_url: stored.fallback.key_validity_url,
            public_key: stored.fallback.public_key,
          },
        },
      ],
    }));
  }

  /** What the identity server may put in its invitation (Synapse sends the same). */
  private async inviteContext(snap: RoomSnapshot, sender: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const put = (key: string, type: string, field: string) => {
      const v = snap.get(type, "")?.pdu.content[field];
      if (typeof v === "string" && v !== "") out[key] = v;
    };
    put("room_alias", "m.room.canonical_alias", "alias");
    put("room_avatar_url", "m.room.avatar", "url");
    put("room_join_rules", "m.room.join_rules", "join_rule");
    put("room_name", "m.room.name", "name");
    put("room_type", "m.room.create", "type");
    const profile = await memberProfile(this.core.ctx, sender);
    if (profile.displayname) out.sender_display_name = profile.displayname;
    if (profile.avatar_url) out.sender_avatar_url = profile.avatar_url;
    return out;
  }

  /**
   * Turns a signed third-party invite into an invite of `signed.mxid`, sent as the original
   * inviter (the auth rules check the identity server's signature, not the inviter's membership).
   * Nothing is written when the user is already invited or joined.
   */
  async exchange(roomId: string, sender: string, signed: SignedInvite): Promise<void> {
    const snap = await this.core.snapshots.get(roomId);
    if (!snap) throw notFound("Unknown room.");
    const invite = snap.get("m.room.third_party_invite", signed.token);
    if (!invite) throw forbidden("No third-party invite with this token in the room.");
    const key = verifyingKey(signed, invite.pdu.content);
    if (!key) throw forbidden("The third-party invite's signature does not verify.");
    // A key the identity server has since revoked (or cannot vouch for) no longer admits anyone.
    if (key.keyValidityUrl && !(await this.identityServers.isKeyValid(key.keyValidityUrl, key.publicKey))) {
      throw forbidden("The identity server does not confirm the key of this third-party invite.");
    }
    const target = parseUserId(signed.mxid);
    checkLocalUser(this.core.serverName, target);
    const profile = await memberProfile(this.core.ctx, target);
    await this.writer.persist(roomId, (current) => {
      const member = current.get("m.room.member", target);
      const m = member?.pdu.content.membership;
      if (member && (m === "invite" || m === "join")) return { drafts: [], existing: member.eventId };
      const tpi = current.get("m.room.third_party_invite", signed.token)?.pdu.content;
      const thirdPartyInvite: Record<string, unknown> = { signed };
      if (typeof tpi?.display_name === "string") thirdPartyInvite.display_name = tpi.display_name;
      return {
        drafts: [
          {
            type: "m.room.member",
            stateKey: target,
            sender,
            content: { membership: "invite", ...profile, third_party_invite: thirdPartyInvite },
          },
        ],
      };
    });
  }
}
