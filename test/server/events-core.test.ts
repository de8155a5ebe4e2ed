import { describe, expect, it } from "vitest";
import { authorizeEvent } from "../../server/rooms/auth-rules.ts";
import { canonicalJson } from "../../server/rooms/canonical-json.ts";
import {
  contentHash,
  hashAndSign,
  redactedSigningBytes,
  SigningKey,
} from "../../server/rooms/event-hashing.ts";
import type { Pdu } from "../../server/rooms/events.ts";
import { redactEvent } from "../../server/rooms/redaction.ts";
import { visibilityFilter } from "../../server/rooms/visibility.ts";
import { stateOf, testPdu } from "../helpers/pdus.ts";

// The key of the spec's "Cryptographic test vectors" appendix.
const SPEC_SEED = Buffer.from("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", "base64");

describe("canonical JSON (spec appendix examples)", () => {
  it("sorts keys, drops whitespace and keeps UTF-8", () => {
    expect(canonicalJson({})).toBe("{}");
    expect(canonicalJson({ one: 1, two: "Two" })).toBe('{"one":1,"two":"Two"}');
    expect(canonicalJson({ b: "2", a: "1" })).toBe('{"a":"1","b":"2"}');
    expect(
      canonicalJson({
        auth: {
          success: true,
          mxid: "@john.doe:example.com",
          profile: {
            display_name: "John Doe",
            three_pids: [
              { medium: "email", address: "john.doe@example.org" },
              { medium: "msisdn", address: "123456789" },
            ],
          },
        },
      }),
    ).toBe(
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    );
    expect(canonicalJson({ a: "日本語" })).toBe('{"a":"日本語"}');
    expect(canonicalJson({ 本: 2, 日: 1 })).toBe('{"日":1,"本":2}');
    expect(canonicalJson(JSON.parse('{"a": "\\u65E5"}'))).toBe('{"a":"日"}');
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
    expect(canonicalJson({ a: -0, b: 1e10 })).toBe('{"a":0,"b":10000000000}');
  });

  it("orders keys by code point, not UTF-16 unit", () => {
    // U+FB01 sorts before U+1F600 by code point, after it by UTF-16 code unit.
    expect(canonicalJson({ "😀": 1, ﬁ: 2 })).toBe('{"ﬁ":2,"😀":1}');
  });

  it("rejects floats and out-of-range integers with M_BAD_JSON", () => {
    expect(() => canonicalJson({ a: 1.5 })).toThrow(expect.objectContaining({ errcode: "M_BAD_JSON" }));
    expect(() => canonicalJson({ a: 2 ** 53 })).toThrow(expect.objectContaining({ errcode: "M_BAD_JSON" }));
  });
});

describe("signing and hashing (spec test vectors)", () => {
  const key = new SigningKey(SPEC_SEED, "1");

  it("derives the spec's public key and signs JSON like the appendix", () => {
    expect(key.publicKeyBase64).toBe("XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI");
    const empty = key.signJson("domain", {}) as { signatures: Record<string, Record<string, string>> };
    expect(empty.signatures.domain!["ed25519:1"]).toBe(
      "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ",
    );
    const two = key.signJson("domain", { one: 1, two: "Two" }) as {
      signatures: Record<string, Record<string, string>>;
    };
    expect(two.signatures.domain!["ed25519:1"]).toBe(
      "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
    );
  });

  it("hashes and signs the appendix's minimal event", () => {
    const minimal = {
      room_id: "!x:domain",
      sender: "@a:domain",
      origin: "domain",
      origin_server_ts: 1000000,
      signatures: {},
      hashes: {},
      type: "X",
      content: {},
      prev_events: [],
      auth_events: [],
      depth: 3,
      unsigned: { age_ts: 1000000 },
    };
    expect(contentHash(minimal)).toBe("5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos");
    // Room version 10's redaction algorithm keeps `origin`, as the appendix's (pre-v11) signature needs.
    const { pdu, eventId } = hashAndSign(minimal, "10", "domain", key);
    expect(pdu.signatures.domain!["ed25519:1"]).toBe(
      "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg",
    );
    expect(eventId).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    expect(key.verifyBytes(redactedSigningBytes(pdu, "10"), pdu.signatures.domain!["ed25519:1"]!)).toBe(true);
  });

  it("hashes the appendix's message event", () => {
    const message = {
      content: { body: "Here is the message content" },
      event_id: "$0:domain",
      origin: "domain",
      origin_server_ts: 1000000,
      type: "m.room.message",
      room_id: "!r:domain",
      sender: "@u:domain",
      signatures: {},
      unsigned: { age_ts: 1000000 },
    };
    expect(contentHash(message)).toBe("onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g");
  });

  it("gives the same event id for the same event and a different one for any change", () => {
    const base = {
      room_id: "!r:d",
      sender: "@u:d",
      type: "m.room.message",
      content: { body: "hi" },
      depth: 1,
    };
    const a = hashAndSign(base, "10", "d", key).eventId;
    expect(hashAndSign(base, "10", "d", key).eventId).toBe(a);
    expect(hashAndSign({ ...base, content: { body: "ho" } }, "10", "d", key).eventId).not.toBe(a);
  });
});

describe("redaction algorithm", () => {
  const member = {
    type: "m.room.member",
    room_id: "!r:d",
    sender: "@u:d",
    state_key: "@u:d",
    origin: "d",
    membership: "join",
    prev_state: [],
    unsigned: { age: 1 },
    content: { membership: "join", displayname: "U", join_authorised_via_users_server: "@a:d" },
    hashes: { sha256: "x" },
    signatures: { d: { "ed25519:1": "s" } },
    depth: 2,
    prev_events: [],
    auth_events: [],
    origin_server_ts: 1,
    extra: true,
  };

  it("v10 keeps origin/membership/prev_state and member content keys", () => {
    const r = redactEvent(member, "10");
    expect(r).toMatchObject({ origin: "d", membership: "join", prev_state: [] });
    expect(r.content).toEqual({ membership: "join", join_authorised_via_users_server: "@a:d" });
    expect(r).not.toHaveProperty("extra");
    expect(r).not.toHaveProperty("unsigned");
    expect(r.signatures).toEqual(member.signatures);
  });

  it("v11 drops origin/membership/prev_state", () => {
    const r = redactEvent(member, "11");
    expect(r).not.toHaveProperty("origin");
    expect(r).not.toHaveProperty("membership");
    expect(r).not.toHaveProperty("prev_state");
  });

  it("applies the per-type content rules of each version", () => {
    const create = {
      type: "m.room.create",
      content: { creator: "@u:d", room_version: "11", "m.federate": false },
    };
    expect(redactEvent(create, "10").content).toEqual({ creator: "@u:d" });
    expect(redactEvent(create, "11").content).toEqual(create.content);
    const pl = {
      type: "m.room.power_levels",
      content: { ban: 50, invite: 0, notifications: { room: 50 }, users: {} },
    };
    expect(redactEvent(pl, "10").content).toEqual({ ban: 50, users: {} });
    expect(redactEvent(pl, "11").content).toEqual({ ban: 50, invite: 0, users: {} });
    const red = { type: "m.room.redaction", content: { redacts: "$e", reason: "spam" } };
    expect(redactEvent(red, "10").content).toEqual({});
    expect(redactEvent(red, "11").content).toEqual({ redacts: "$e" });
    const jr = { type: "m.room.join_rules", content: { join_rule: "restricted", allow: [], other: 1 } };
    expect(redactEvent(jr, "10").content).toEqual({ join_rule: "restricted", allow: [] });
    const hv = { type: "m.room.history_visibility", content: { history_visibility: "joined", x: 1 } };
    expect(redactEvent(hv, "11").content).toEqual({ history_visibility: "joined" });
    const msg = { type: "m.room.message", content: { body: "secret" } };
    expect(redactEvent(msg, "10").content).toEqual({});
  });
});

describe("authorization rules", () => {
  const state = stateOf;
  const ev = testPdu;
  const base = [
    ev({ type: "m.room.create", sender: "@c:d", state_key: "", content: { creator: "@c:d" } }),
    ev({ type: "m.room.member", sender: "@c:d", state_key: "@c:d", content: { membership: "join" } }),
    ev({
      type: "m.room.power_levels",
      sender: "@c:d",
      state_key: "",
      content: { users: { "@c:d": 100, "@m:d": 50 }, state_default: 50, events: { "m.room.name": 50 } },
    }),
    ev({ type: "m.room.join_rules", sender: "@c:d", state_key: "", content: { join_rule: "invite" } }),
    ev({ type: "m.room.member", sender: "@m:d", state_key: "@m:d", content: { membership: "join" } }),
    ev({ type: "m.room.member", sender: "@u:d", state_key: "@u:d", content: { membership: "join" } }),
  ];
  const s = state(base);
  const allow = (e: Pdu) => expect(() => authorizeEvent(e, s, "10")).not.toThrow();
  const deny = (e: Pdu) =>
    expect(() => authorizeEvent(e, s, "10")).toThrow(expect.objectContaining({ errcode: "M_FORBIDDEN" }));

  it("checks joins against the join rule", () => {
    deny(ev({ type: "m.room.member", sender: "@x:d", state_key: "@x:d", content: { membership: "join" } }));
    deny(ev({ type: "m.room.member", sender: "@c:d", state_key: "@x:d", content: { membership: "join" } }));
  });

  it("checks kicks, bans and invites against power levels", () => {
    allow(ev({ type: "m.room.member", sender: "@m:d", state_key: "@u:d", content: { membership: "leave" } }));
    deny(ev({ type: "m.room.member", sender: "@u:d", state_key: "@m:d", content: { membership: "leave" } }));
    deny(ev({ type: "m.room.member", sender: "@m:d", state_key: "@c:d", content: { membership: "ban" } }));
    allow(
      ev({ type: "m.room.member", sender: "@u:d", state_key: "@x:d", content: { membership: "invite" } }),
    );
    deny(ev({ type: "m.room.member", sender: "@x:d", state_key: "@y:d", content: { membership: "invite" } }));
  });

  it("checks state events and power level changes", () => {
    deny(ev({ type: "m.room.name", sender: "@u:d", state_key: "", content: { name: "n" } }));
    allow(ev({ type: "m.room.name", sender: "@m:d", state_key: "", content: { name: "n" } }));
    deny(ev({ type: "m.room.message", sender: "@x:d", content: { body: "not joined" } }));
    deny(ev({ type: "x.custom", sender: "@u:d", state_key: "@m:d", content: {} }));
    const pl = (content: Record<string, unknown>, sender = "@m:d") =>
      ev({ type: "m.room.power_levels", sender, state_key: "", content });
    deny(
      pl({
        users: { "@c:d": 100, "@m:d": 50, "@u:d": 60 },
        state_default: 50,
        events: { "m.room.name": 50 },
      }),
    );
    allow(
      pl({
        users: { "@c:d": 100, "@m:d": 50, "@u:d": 50 },
        state_default: 50,
        events: { "m.room.name": 50 },
      }),
    );
    deny(pl({ users: { "@c:d": 1, "@m:d": 50 }, state_default: 50, events: { "m.room.name": 50 } }));
    deny(pl({ users: { "@c:d": 100, "@m:d": "50" }, state_default: 50 }, "@c:d"));
    deny(pl({ users: { "@c:d": 100 }, ban: 50.5 }, "@c:d"));
    deny(pl({ users: { "not-a-user": 1, "@c:d": 100 } }, "@c:d"));
  });
});

describe("history visibility", () => {
  const cand = (p: number) => ({
    stream_position: p,
    type: "m.room.message",
    state_key: null,
    membership: null,
  });
  it("hides events before the join under joined, shows them under shared", () => {
    const memberships = [{ membership: "join", stream_position: 10 }];
    const joined = visibilityFilter({
      userId: "@u:d",
      memberships,
      visibilities: [{ visibility: "joined", stream_position: 1 }],
    });
    expect(joined(cand(5))).toBe(false);
    expect(joined(cand(11))).toBe(true);
    const shared = visibilityFilter({
      userId: "@u:d",
      memberships,
      visibilities: [{ visibility: "shared", stream_position: 1 }],
    });
    expect(shared(cand(5))).toBe(true);
  });
  it("hides events after the user left unless world_readable", () => {
    const memberships = [
      { membership: "join", stream_position: 10 },
      { membership: "leave", stream_position: 20 },
    ];
    const f = visibilityFilter({
      userId: "@u:d",
      memberships,
      visibilities: [{ visibility: "shared", stream_position: 1 }],
    });
    expect(f(cand(15))).toBe(true);
    expect(f(cand(25))).toBe(false);
    expect(f({ stream_position: 20, type: "m.room.member", state_key: "@u:d", membership: "leave" })).toBe(
      true,
    );
    const w = visibilityFilter({
      userId: "@u:d",
      memberships,
      visibilities: [{ visibility: "world_readable", stream_position: 1 }],
    });
    expect(w(cand(25))).toBe(true);
  });
  it("shows invited-era events under invited", () => {
    const memberships = [{ membership: "invite", stream_position: 10 }];
    const f = visibilityFilter({
      userId: "@u:d",
      memberships,
      visibilities: [{ visibility: "invited", stream_position: 1 }],
    });
    expect(f(cand(12))).toBe(true);
    expect(f(cand(5))).toBe(false);
  });
});
