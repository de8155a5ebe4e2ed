import { describe, expect, it } from "vitest";
import { authorizeEvent } from "../../server/rooms/auth-rules.ts";
import { canonicalJson } from "../../server/rooms/canonical-json.ts";
import { hashAndSign, redactedSigningBytes, SigningKey } from "../../server/rooms/event-hashing.ts";
import type { Pdu } from "../../server/rooms/events.ts";
import { redactEvent } from "../../server/rooms/redaction.ts";
import { type RoomVersion, SUPPORTED_ROOM_VERSIONS } from "../../server/rooms/room-versions.ts";
import { stateOf, testPdu } from "../helpers/pdus.ts";

const versions = (from: number, to: number) =>
  SUPPORTED_ROOM_VERSIONS.filter((v) => Number(v) >= from && Number(v) <= to);

describe("redaction algorithm per room version", () => {
  const keptContent = (type: string, content: Record<string, unknown>, v: RoomVersion) =>
    redactEvent({ type, content }, v).content;

  it("keeps m.room.aliases' aliases in v1–v5 only", () => {
    const c = { aliases: ["#a:d"], other: 1 };
    for (const v of versions(1, 5))
      expect(keptContent("m.room.aliases", c, v)).toEqual({ aliases: ["#a:d"] });
    for (const v of versions(6, 11)) expect(keptContent("m.room.aliases", c, v)).toEqual({});
  });

  it("keeps join_rules' allow from v8", () => {
    const c = { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: "!x:d" }], x: 1 };
    for (const v of versions(1, 7))
      expect(keptContent("m.room.join_rules", c, v)).toEqual({ join_rule: "restricted" });
    for (const v of versions(8, 11)) {
      expect(keptContent("m.room.join_rules", c, v)).toEqual({ join_rule: "restricted", allow: c.allow });
    }
  });

  it("keeps join_authorised_via_users_server from v9, third_party_invite.signed in v11", () => {
    const c = {
      membership: "join",
      displayname: "U",
      join_authorised_via_users_server: "@a:d",
      third_party_invite: { signed: { token: "t" }, display_name: "x" },
    };
    for (const v of versions(1, 8))
      expect(keptContent("m.room.member", c, v)).toEqual({ membership: "join" });
    for (const v of versions(9, 10)) {
      expect(keptContent("m.room.member", c, v)).toEqual({
        membership: "join",
        join_authorised_via_users_server: "@a:d",
      });
    }
    expect(keptContent("m.room.member", c, "11")).toEqual({
      membership: "join",
      join_authorised_via_users_server: "@a:d",
      third_party_invite: { signed: { token: "t" } },
    });
  });

  it("keeps the original top-level keys up to v10 and drops origin, membership, prev_state in v11", () => {
    const ev = {
      type: "m.room.message",
      event_id: "$e:d",
      origin: "d",
      membership: "join",
      prev_state: [],
      x: 1,
    };
    for (const v of versions(1, 10)) {
      expect(redactEvent(ev, v)).toEqual({ ...ev, x: undefined, content: {} } as never);
    }
    expect(redactEvent(ev, "11")).toEqual({ type: "m.room.message", event_id: "$e:d", content: {} });
  });

  it("keeps only creator of m.room.create and leaves power levels' invite out before v11", () => {
    const pl = { ban: 50, invite: 0, notifications: { room: 50 }, users: {} };
    for (const v of versions(1, 10)) {
      expect(keptContent("m.room.create", { creator: "@u:d", room_version: v }, v)).toEqual({
        creator: "@u:d",
      });
      expect(keptContent("m.room.power_levels", pl, v)).toEqual({ ban: 50, users: {} });
    }
    expect(keptContent("m.room.power_levels", pl, "11")).toEqual({ ban: 50, invite: 0, users: {} });
  });
});

describe("event ids and canonical JSON per room version", () => {
  const key = new SigningKey(Buffer.alloc(32, 7), "1");
  const pdu: Pdu = {
    room_id: "!r:d",
    sender: "@u:d",
    type: "m.room.message",
    content: { body: "hi" },
    origin_server_ts: 1,
    depth: 3,
    prev_events: ["$p"],
    auth_events: [],
  };

  it("makes random ids carried in the event in v1–v2, hash ids from v3 in the version's alphabet", () => {
    for (const v of versions(1, 2)) {
      const { pdu: signed, eventId } = hashAndSign(pdu, v, "d", key);
      expect(eventId).toMatch(/^\$[A-Za-z]{18}:d$/);
      expect(signed.event_id).toBe(eventId);
      // The id is covered by the signature: the redacted form keeps it.
      expect(redactedSigningBytes(signed, v)).toContain(`"event_id":"${eventId}"`);
    }
    // Find an event whose hash needs a character where the two alphabets differ.
    for (let ts = 1; ; ts++) {
      const e = { ...pdu, origin_server_ts: ts };
      const v3 = hashAndSign(e, "3", "d", key).eventId;
      if (!/[/+]/.test(v3)) continue;
      const v4 = hashAndSign(e, "4", "d", key).eventId;
      expect(v3).toMatch(/^\$[A-Za-z0-9+/]{43}$/);
      expect(v4).toBe(v3.replaceAll("+", "-").replaceAll("/", "_"));
      expect(hashAndSign(e, "3", "d", key).pdu).not.toHaveProperty("event_id");
      break;
    }
  });

  it("refuses floats and out-of-range integers from v6, encodes them before", () => {
    const withFloat = { ...pdu, content: { n: 1.5, big: 2 ** 53 } };
    for (const v of versions(6, 11)) {
      expect(() => hashAndSign(withFloat, v, "d", key)).toThrow(
        expect.objectContaining({ errcode: "M_BAD_JSON" }),
      );
    }
    for (const v of versions(1, 5)) expect(() => hashAndSign(withFloat, v, "d", key)).not.toThrow();
    expect(canonicalJson({ b: 1.5, a: 2 ** 53 }, { strict: false })).toBe('{"a":9007199254740992,"b":1.5}');
  });
});

describe("authorization rules per room version", () => {
  const ev = testPdu;
  const roomWith = (joinRule: string, power: Record<string, unknown> = {}) => {
    const events = [
      ev({ type: "m.room.create", sender: "@c:d", state_key: "", content: { creator: "@c:d" } }),
      ev({ type: "m.room.member", sender: "@c:d", state_key: "@c:d", content: { membership: "join" } }),
      ev({
        type: "m.room.power_levels",
        sender: "@c:d",
        state_key: "",
        content: { users: { "@c:d": 100, "@m:d": 50 }, events: { "m.room.power_levels": 50 }, ...power },
      }),
      ev({ type: "m.room.join_rules", sender: "@c:d", state_key: "", content: { join_rule: joinRule } }),
      ev({ type: "m.room.member", sender: "@m:d", state_key: "@m:d", content: { membership: "join" } }),
      ev({ type: "m.room.member", sender: "@c:d", state_key: "@i:d", content: { membership: "invite" } }),
    ];
    return stateOf(events);
  };
  const member = (user: string, membership: string) =>
    ev({ type: "m.room.member", sender: user, state_key: user, content: { membership } });
  const verdict = (e: Pdu, state: ReturnType<typeof roomWith>, v: RoomVersion) => {
    try {
      authorizeEvent(e, state, v);
      return "allow";
    } catch {
      return "deny";
    }
  };

  it("knock membership from v7; knock_restricted from v10", () => {
    for (const v of versions(1, 6))
      expect(verdict(member("@k:d", "knock"), roomWith("knock"), v)).toBe("deny");
    for (const v of versions(7, 11))
      expect(verdict(member("@k:d", "knock"), roomWith("knock"), v)).toBe("allow");
    for (const v of versions(7, 9)) {
      expect(verdict(member("@k:d", "knock"), roomWith("knock_restricted"), v)).toBe("deny");
    }
    for (const v of versions(10, 11)) {
      expect(verdict(member("@k:d", "knock"), roomWith("knock_restricted"), v)).toBe("allow");
    }
  });

  it("an invited user joins through knock from v7 and restricted from v8, not before", () => {
    for (const v of versions(1, 6))
      expect(verdict(member("@i:d", "join"), roomWith("knock"), v)).toBe("deny");
    for (const v of versions(7, 11))
      expect(verdict(member("@i:d", "join"), roomWith("knock"), v)).toBe("allow");
    for (const v of versions(1, 7))
      expect(verdict(member("@i:d", "join"), roomWith("restricted"), v)).toBe("deny");
    for (const v of versions(8, 11))
      expect(verdict(member("@i:d", "join"), roomWith("restricted"), v)).toBe("allow");
    expect(verdict(member("@i:d", "join"), roomWith("invite"), "1")).toBe("allow");
  });

  it("takes string power levels before v10 and refuses them from v10", () => {
    const pl = (users: Record<string, unknown>) =>
      ev({ type: "m.room.power_levels", sender: "@c:d", state_key: "", content: { users } });
    const stringy = pl({ "@c:d": 100, "@m:d": "50" });
    for (const v of versions(1, 9)) expect(verdict(stringy, roomWith("invite"), v)).toBe("allow");
    for (const v of versions(10, 11)) expect(verdict(stringy, roomWith("invite"), v)).toBe("deny");
    for (const v of versions(1, 9))
      expect(verdict(pl({ "@c:d": 100, "@m:d": "fifty" }), roomWith("invite"), v)).toBe("deny");
    // A level stored as a string counts: @m:d at "60" outranks state_default 50 before v10.
    const state = roomWith("invite", { users: { "@c:d": 100, "@m:d": "60" } });
    const name = ev({ type: "m.room.name", sender: "@m:d", state_key: "", content: { name: "n" } });
    expect(verdict(name, state, "9")).toBe("allow");
  });

  it("checks changes to notifications levels from v6", () => {
    const raise = ev({
      type: "m.room.power_levels",
      sender: "@m:d",
      state_key: "",
      content: {
        users: { "@c:d": 100, "@m:d": 50 },
        events: { "m.room.power_levels": 50 },
        notifications: { room: 100 },
      },
    });
    for (const v of versions(1, 5)) expect(verdict(raise, roomWith("invite"), v)).toBe("allow");
    for (const v of versions(6, 11)) expect(verdict(raise, roomWith("invite"), v)).toBe("deny");
  });

  it("special-cases m.room.aliases by the sender's server in v1–v5", () => {
    const aliases = (stateKey: string) =>
      ev({ type: "m.room.aliases", sender: "@m:d", state_key: stateKey, content: { aliases: [] } });
    for (const v of versions(1, 5)) {
      expect(verdict(aliases("d"), roomWith("invite", { state_default: 100 }), v)).toBe("allow");
      expect(verdict(aliases("other"), roomWith("invite"), v)).toBe("deny");
    }
    for (const v of versions(6, 11))
      expect(verdict(aliases("d"), roomWith("invite", { state_default: 100 }), v)).toBe("deny");
  });
});
