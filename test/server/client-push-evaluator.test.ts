import { describe, expect, it } from "vitest";
import { defaultRules } from "../../server/client/push-rules/defaults.ts";
import {
  evaluatePushRules,
  flattenEvent,
  type PushContext,
} from "../../server/client/push-rules/evaluator.ts";
import type { PushRuleset } from "../../server/client/push-rules/types.ts";

const me = "@alice:localhost";
const ctx: PushContext = {
  userId: me,
  displayName: "Alice Liddell",
  memberCount: 5,
  senderPowerLevel: 0,
  notificationLevels: {},
};
const msg = (content: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: "m.room.message",
  sender: "@bob:localhost",
  room_id: "!r:localhost",
  content: { msgtype: "m.text", ...content },
  ...extra,
});

describe("push rule evaluation (spec v1.11 defaults)", () => {
  const rules = defaultRules(me);

  it("lists the spec's default rules in order", () => {
    expect(rules.override.map((r) => r.rule_id)).toEqual([
      ".m.rule.master",
      ".m.rule.suppress_notices",
      ".m.rule.invite_for_me",
      ".m.rule.member_event",
      ".m.rule.is_user_mention",
      ".m.rule.contains_display_name",
      ".m.rule.is_room_mention",
      ".m.rule.roomnotif",
      ".m.rule.tombstone",
      ".m.rule.reaction",
      ".m.rule.room.server_acl",
      ".m.rule.suppress_edits",
    ]);
    expect(rules.content.map((r) => [r.rule_id, r.pattern])).toEqual([
      [".m.rule.contains_user_name", "alice"],
    ]);
    expect(rules.underride.map((r) => r.rule_id)).toEqual([
      ".m.rule.call",
      ".m.rule.encrypted_room_one_to_one",
      ".m.rule.room_one_to_one",
      ".m.rule.message",
      ".m.rule.encrypted",
    ]);
    expect(rules.override[0]!.enabled).toBe(false);
  });

  it("notifies plain messages without highlight, and 1:1 messages with a sound", () => {
    expect(evaluatePushRules(rules, msg({ body: "hello" }), ctx)).toMatchObject({
      notify: true,
      highlight: false,
      ruleId: ".m.rule.message",
    });
    const oneToOne = evaluatePushRules(rules, msg({ body: "hello" }), { ...ctx, memberCount: 2 });
    expect(oneToOne.ruleId).toBe(".m.rule.room_one_to_one");
  });

  it("never notifies a user about their own events", () => {
    expect(evaluatePushRules(rules, msg({ body: "alice" }, { sender: me }), ctx).notify).toBe(false);
  });

  it("highlights the display name and the localpart only at word boundaries", () => {
    expect(evaluatePushRules(rules, msg({ body: "hey Alice Liddell!" }), ctx)).toMatchObject({
      highlight: true,
      ruleId: ".m.rule.contains_display_name",
    });
    expect(evaluatePushRules(rules, msg({ body: "ALICE, look" }), ctx)).toMatchObject({
      highlight: true,
      ruleId: ".m.rule.contains_user_name",
    });
    expect(evaluatePushRules(rules, msg({ body: "malice" }), ctx).highlight).toBe(false);
  });

  it("uses intentional mentions and skips the legacy rules when m.mentions is present", () => {
    const mention = evaluatePushRules(rules, msg({ body: "hi", "m.mentions": { user_ids: [me] } }), ctx);
    expect(mention).toMatchObject({ highlight: true, ruleId: ".m.rule.is_user_mention" });
    const noMention = evaluatePushRules(rules, msg({ body: "alice", "m.mentions": {} }), ctx);
    expect(noMention).toMatchObject({ highlight: false, ruleId: ".m.rule.message" });
  });

  it("gates @room on the sender's notification power level", () => {
    const room = msg({ body: "@room look" });
    expect(evaluatePushRules(rules, room, ctx).highlight).toBe(false);
    expect(evaluatePushRules(rules, room, { ...ctx, senderPowerLevel: 50 })).toMatchObject({
      highlight: true,
      ruleId: ".m.rule.roomnotif",
    });
    const roomMention = msg({ body: "x", "m.mentions": { room: true } });
    expect(
      evaluatePushRules(rules, roomMention, {
        ...ctx,
        senderPowerLevel: 10,
        notificationLevels: { room: 10 },
      }),
    ).toMatchObject({ ruleId: ".m.rule.is_room_mention", highlight: true });
  });

  it("suppresses notices, edits, reactions and member events; notifies invites for me", () => {
    expect(evaluatePushRules(rules, msg({ body: "x", msgtype: "m.notice" }), ctx).notify).toBe(false);
    const edit = msg({ body: "* x", "m.relates_to": { rel_type: "m.replace", event_id: "$e" } });
    expect(evaluatePushRules(rules, edit, ctx).ruleId).toBe(".m.rule.suppress_edits");
    expect(evaluatePushRules(rules, { ...msg({}), type: "m.reaction" }, ctx).notify).toBe(false);
    const invite = {
      type: "m.room.member",
      sender: "@bob:localhost",
      state_key: me,
      content: { membership: "invite" },
    };
    expect(evaluatePushRules(rules, invite, ctx)).toMatchObject({
      notify: true,
      ruleId: ".m.rule.invite_for_me",
    });
    expect(evaluatePushRules(rules, { ...invite, state_key: "@carol:localhost" }, ctx).notify).toBe(false);
  });

  it("applies master, user rules before defaults, and event_match type strictness", () => {
    const withMaster: PushRuleset = structuredClone(rules);
    withMaster.override[0]!.enabled = true;
    expect(evaluatePushRules(withMaster, msg({ body: "alice" }), ctx).notify).toBe(false);

    const user: PushRuleset = structuredClone(rules);
    user.room.push({ rule_id: "!r:localhost", default: false, enabled: true, actions: [] });
    expect(evaluatePushRules(user, msg({ body: "hello" }), ctx)).toMatchObject({
      notify: false,
      ruleId: "!r:localhost",
    });

    const custom: PushRuleset = structuredClone(rules);
    custom.override.splice(1, 0, {
      rule_id: "num",
      default: false,
      enabled: true,
      conditions: [{ kind: "event_match", key: "content.n", pattern: "*" }],
      actions: ["notify", { set_tweak: "highlight" }],
    });
    // A number is not a string: event_match fails even for "*".
    expect(evaluatePushRules(custom, msg({ body: "x", n: 1 }), ctx).ruleId).toBe(".m.rule.message");
    expect(evaluatePushRules(custom, msg({ body: "x", n: "1" }), ctx).ruleId).toBe("num");
  });

  it("compares room_member_count with its operators and ignores malformed ones", () => {
    const r: PushRuleset = structuredClone(rules);
    r.override.splice(1, 0, {
      rule_id: "big",
      default: false,
      enabled: true,
      conditions: [{ kind: "room_member_count", is: ">=10" }],
      actions: ["notify", { set_tweak: "highlight", value: true }],
    });
    expect(evaluatePushRules(r, msg({ body: "x" }), { ...ctx, memberCount: 10 }).ruleId).toBe("big");
    expect(evaluatePushRules(r, msg({ body: "x" }), { ...ctx, memberCount: 9 }).ruleId).toBe(
      ".m.rule.message",
    );
    r.override[1]!.conditions = [{ kind: "room_member_count", is: "ten" }];
    expect(evaluatePushRules(r, msg({ body: "x" }), { ...ctx, memberCount: 10 }).ruleId).toBe(
      ".m.rule.message",
    );
  });

  it("flattens keys with escaped dots", () => {
    const flat = flattenEvent({
      content: { "m.relates_to": { rel_type: "m.thread" }, list: [1, "a", { x: 1 }] },
    });
    expect(flat.get("content.m\\.relates_to.rel_type")).toBe("m.thread");
    expect(flat.get("content.list")).toEqual([1, "a"]);
  });
});
