import { ed25519Key, verifyJsonSignature } from "../../../crypto/signing.ts";
import { membershipIn, type Pdu, type StateView } from "../events.ts";

export type InviteKey = { publicKey: string; keyValidityUrl: string | undefined };

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** The keys an m.room.third_party_invite names: `public_key` and each of `public_keys`. */
function inviteKeys(content: Record<string, unknown>): InviteKey[] {
  const keys: InviteKey[] = [];
  const url = (v: unknown) => (typeof v === "string" ? v : undefined);
  if (typeof content.public_key === "string") {
    keys.push({ publicKey: content.public_key, keyValidityUrl: url(content.key_validity_url) });
  }
  if (Array.isArray(content.public_keys)) {
    for (const k of content.public_keys) {
      if (isObject(k) && typeof k.public_key === "string")
        keys.push({ publicKey: k.public_key, keyValidityUrl: url(k.key_validity_url) });
    }
  }
  return keys;
}

/**
 * The key of the m.room.third_party_invite content that verifies one of `signed`'s ed25519
 * signatures (spec auth rules, "If content has a third_party_invite property"); null when none does.
 */
export function verifyingKey(
  signed: Record<string, unknown>,
  inviteContent: Record<string, unknown>,
): InviteKey | null {
  const signatures = signed.signatures;
  if (!isObject(signatures)) return null;
  const keys = inviteKeys(inviteContent);
  for (const [signer, byKey] of Object.entries(signatures)) {
    if (!isObject(byKey)) continue;
    for (const keyId of Object.keys(byKey)) {
      if (!keyId.startsWith("ed25519:")) continue;
      for (const k of keys) {
        const key = ed25519Key(k.publicKey);
        if (key && verifyJsonSignature(signed, signer, keyId, key)) return k;
      }
    }
  }
  return null;
}

/**
 * Why an invite carrying `third_party_invite` is refused, or null when it is allowed (spec room
 * versions, auth rules of m.room.member invite, "If content has a third_party_invite property").
 * The sender's own membership is not asked: the invite is the 3PID owner's claim, vouched for by
 * the identity server's signature, so it stands after the inviter has left.
 */
export function thirdPartyInviteRefusal(ev: Pdu, state: StateView): string | null {
  const target = ev.state_key!;
  if (membershipIn(state, target) === "ban") return "invitee is banned";
  const tpi = ev.content.third_party_invite;
  const signed = isObject(tpi) ? tpi.signed : undefined;
  if (!isObject(signed)) return "third_party_invite needs a signed object";
  if (typeof signed.mxid !== "string" || typeof signed.token !== "string")
    return "third_party_invite.signed needs mxid and token";
  if (signed.mxid !== target) return "third_party_invite.signed.mxid is not the invitee";
  const invite = state.get("m.room.third_party_invite", signed.token);
  if (!invite) return "no m.room.third_party_invite for this token";
  if (invite.pdu.sender !== ev.sender) return "sender is not the sender of the third-party invite";
  if (!verifyingKey(signed, invite.pdu.content)) return "third_party_invite signature does not verify";
  return null;
}
