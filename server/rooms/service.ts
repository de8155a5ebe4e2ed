import type { NovaContext } from "../context.ts";
import type { RoomTimelineCache } from "./caches/timelines.ts";
import type { ClientEvent, Viewer } from "./client-events.ts";
import { RoomsCore } from "./core.ts";
import { RoomDirectory } from "./directory.ts";
import type { SigningKey } from "./event-hashing.ts";
import type { IgnoredUsersPort } from "./ignored-users.ts";
import { MembershipQueries } from "./membership/queries.ts";
import { MembershipVerbs } from "./membership/verbs.ts";
import type { RoomMembership } from "./membership.ts";
import type { PushVerdictPort } from "./publish.ts";
import { Aggregations } from "./read/aggregations.ts";
import { RelationReads } from "./read/relations.ts";
import { type Readable, StateReads } from "./read/state.ts";
import { SyncReads } from "./read/sync.ts";
import { TimelineReads } from "./read/timeline.ts";
import type { CreateRoomRequest } from "./room-creation.ts";
import type { RoomSnapshot } from "./room-snapshot.ts";
import type { ConversationsRepository } from "./storage/conversations.repository.ts";
import type { EventsRepository } from "./storage/events.repository.ts";
import type { EventRow, UserMembership } from "./storage/rows.ts";
import type { StateRepository } from "./storage/state.repository.ts";
import type { RoomsDb } from "./tables.ts";
import { IdentityServerClient } from "./third-party/identity-server.ts";
import { type SignedInvite, type ThirdPartyInviteRequest, ThirdPartyInvites } from "./third-party/invites.ts";
import { RoomCreator } from "./write/create-room.ts";
import { type PersistOptions, type PersistResult, type Plan, RoomWriter } from "./write/persist.ts";
import { Redactor } from "./write/redact.ts";
import { Sender } from "./write/send.ts";
import { RoomUpgrader } from "./write/upgrade.ts";

export type { SendOptions } from "./caches/txn-ids.ts";
export type { Draft } from "./draft.ts";
export type { CreateRoomRequest } from "./room-creation.ts";
export type { UserMembership } from "./storage/rows.ts";
export type { PersistResult } from "./write/persist.ts";

/**
 * Stored rows as they are, for tests that check what was persisted (the redacted PDU, the rows
 * another replica wrote). Read-only and narrow; no production code uses it (RoomsApi omits it).
 */
export type RoomsStorageReads = {
  getEvent: EventsRepository["getEvent"];
  page: EventsRepository["page"];
  membershipsOf: StateRepository["membershipsOf"];
  publicRoomIds: ConversationsRepository["publicRoomIds"];
};

/** The read services the rooms handlers call (routes, the sync stream). */
export type RoomReads = {
  state: StateReads;
  timeline: TimelineReads;
  sync: SyncReads;
  relations: RelationReads;
};

/**
 * Rooms and room events, the object other areas (crypto, calls, sync, client config) are handed:
 * a facade over the verbs of write/, membership/ and read/, which share one RoomsCore (storage
 * and caches). Other areas use `sendEvent`, `sendStateEvent`, `getStateEvent` and RoomMembership.
 */
export class RoomsService implements RoomMembership {
  readonly repo: RoomsStorageReads;
  /** Rooms' newest events, shared by the deltas of their members. */
  readonly timelines: RoomTimelineCache;
  readonly reads: RoomReads;
  readonly directory: RoomDirectory;
  private readonly core: RoomsCore;
  private readonly writer: RoomWriter;
  private readonly sender: Sender;
  private readonly redactor: Redactor;
  private readonly creator: RoomCreator;
  private readonly upgrader: RoomUpgrader;
  private readonly verbs: MembershipVerbs;
  private readonly members: MembershipQueries;
  private readonly thirdParty: ThirdPartyInvites;
  private joinGuard: ((userId: string, roomId: string) => Promise<void>) | null = null;

  constructor(ctx: NovaContext, db: RoomsDb) {
    const core = new RoomsCore(ctx, db);
    this.core = core;
    const { events, state, conversations } = core.repo;
    this.repo = {
      getEvent: (eventId) => events.getEvent(eventId),
      page: (roomId, opts) => events.page(roomId, opts),
      membershipsOf: (userId) => state.membershipsOf(userId),
      publicRoomIds: () => conversations.publicRoomIds(),
    };
    this.timelines = core.timelines;
    this.writer = new RoomWriter(core);
    this.redactor = new Redactor(core, this.writer);
    this.sender = new Sender(core, this.writer, this.redactor);
    this.creator = new RoomCreator(core, this.writer);
    this.upgrader = new RoomUpgrader(core, this.writer);
    this.verbs = new MembershipVerbs(core, this.writer);
    this.members = new MembershipQueries(core);
    this.thirdParty = new ThirdPartyInvites(
      core,
      this.writer,
      this.verbs,
      new IdentityServerClient({ insecure: ctx.config.identityServerInsecure }),
    );
    const stateReads = new StateReads(core);
    const aggregations = new Aggregations(core);
    const timeline = new TimelineReads(core, stateReads, aggregations);
    this.reads = {
      state: stateReads,
      timeline,
      sync: new SyncReads(core, aggregations),
      relations: new RelationReads(core, stateReads, timeline, aggregations),
    };
    this.directory = new RoomDirectory(core, stateReads);
  }

  /**
   * Several homeserver processes share the database (fan-out over Redis): in-memory views may lag
   * writes made elsewhere, so readers that must not miss anything ask the database.
   */
  get multiReplica(): boolean {
    return this.core.multiReplica;
  }

  get serverName(): string {
    return this.core.serverName;
  }

  signingKey(): Promise<SigningKey> {
    return this.core.signingKey();
  }

  // ---------------------------------------------------------------- caches (caches/)

  /** The room's cached current state, loaded on first use; null for an unknown room. */
  snapshot(roomId: string): Promise<RoomSnapshot | null> {
    return this.core.snapshots.get(roomId);
  }

  /** Loads the current state of the rooms not in memory yet, a few statements for all of them. */
  warmSnapshots(roomIds: readonly string[]): Promise<void> {
    return this.core.snapshots.warm(roomIds);
  }

  /** Whether the room's head in the database is past `head` (another process wrote the room). */
  headMoved(roomId: string, head: number): Promise<boolean> {
    return this.core.snapshots.headMoved(roomId, head);
  }

  /** Drops a room's cached state (another replica wrote it); the next use reloads it. */
  invalidateRoom(roomId: string): void {
    this.core.invalidateRoom(roomId);
  }

  /** Drops a user's cached memberships (another replica changed one). */
  invalidateUser(userId: string): void {
    this.core.users.invalidate(userId);
  }

  // ---------------------------------------------------------------- writes (write/)

  /** See RoomWriter.persist: the one write path of room events. */
  persist(
    roomId: string,
    plan: (snap: RoomSnapshot) => Promise<Plan> | Plan,
    opts: PersistOptions = {},
  ): Promise<PersistResult> {
    return this.writer.persist(roomId, plan, opts);
  }

  sendEvent(...args: Parameters<Sender["sendEvent"]>): Promise<string> {
    return this.sender.sendEvent(...args);
  }

  sendStateEvent(...args: Parameters<Sender["sendStateEvent"]>): Promise<string> {
    return this.sender.sendStateEvent(...args);
  }

  redact(...args: Parameters<Redactor["redact"]>): Promise<string> {
    return this.redactor.redact(...args);
  }

  createRoom(creator: string, req: CreateRoomRequest): Promise<{ roomId: string; alias?: string }> {
    return this.creator.createRoom(creator, req);
  }

  /** POST /rooms/{roomId}/upgrade: the replacement room's id. */
  upgradeRoom(userId: string, roomId: string, newVersion: string): Promise<string> {
    return this.upgrader.upgrade(userId, roomId, newVersion);
  }

  // ---------------------------------------------------------------- membership verbs (membership/)

  resolveRoom(roomIdOrAlias: string): Promise<string> {
    return this.verbs.resolveRoom(roomIdOrAlias);
  }

  /**
   * `thirdPartySigned` (a join's `third_party_signed`) is first exchanged for an invite of the
   * user, as Synapse does, so a 3PID invitee can join an invite-only room before any onbind.
   */
  async join(
    userId: string,
    roomIdOrAlias: string,
    reason?: string,
    extra?: Record<string, unknown>,
    thirdPartySigned?: SignedInvite & { sender: string },
  ): Promise<string> {
    const roomId = await this.verbs.resolveRoom(roomIdOrAlias);
    if (this.joinGuard) await this.joinGuard(userId, roomId);
    if (thirdPartySigned) await this.thirdParty.exchange(roomId, thirdPartySigned.sender, thirdPartySigned);
    return this.verbs.join(userId, roomIdOrAlias, reason, extra);
  }

  /** POST /rooms/{roomId}/invite with a 3PID (spec "Third-party invites"). */
  inviteThirdParty(sender: string, roomId: string, req: ThirdPartyInviteRequest): Promise<void> {
    return this.thirdParty.invite(sender, roomId, req);
  }

  /** An identity server's signed invite for a user who bound the 3PID (federation onbind). */
  exchangeThirdPartyInvite(roomId: string, sender: string, signed: SignedInvite): Promise<void> {
    return this.thirdParty.exchange(roomId, sender, signed);
  }

  /** POST /knock: the admin API's blocked rooms refuse knocks as they refuse joins. */
  async knock(userId: string, roomIdOrAlias: string, reason?: string): Promise<string> {
    if (this.joinGuard) await this.joinGuard(userId, await this.verbs.resolveRoom(roomIdOrAlias));
    return this.verbs.knock(userId, roomIdOrAlias, reason);
  }

  /** Plugs in a check every join passes first (the admin API's blocked rooms refuse with 403). */
  useJoinGuard(guard: (userId: string, roomId: string) => Promise<void>): void {
    this.joinGuard = guard;
  }

  leave(userId: string, roomId: string, reason?: string): Promise<void> {
    return this.verbs.leave(userId, roomId, reason);
  }

  invite(sender: string, roomId: string, target: string, reason?: string, isDirect?: boolean): Promise<void> {
    return this.verbs.invite(sender, roomId, target, reason, isDirect);
  }

  kick(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    return this.verbs.kick(sender, roomId, target, reason);
  }

  ban(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    return this.verbs.ban(sender, roomId, target, reason);
  }

  unban(sender: string, roomId: string, target: string, reason?: string): Promise<void> {
    return this.verbs.unban(sender, roomId, target, reason);
  }

  forget(userId: string, roomId: string): Promise<void> {
    return this.verbs.forget(userId, roomId);
  }

  // ---------------------------------------------------------------- reads (read/)

  readableAt(userId: string, roomId: string): Promise<Readable> {
    return this.reads.state.readableAt(userId, roomId);
  }

  stateEvents(roomId: string, position: number | null, viewer: Viewer | null): Promise<ClientEvent[]> {
    return this.reads.state.stateEvents(roomId, position, viewer);
  }

  getStateEvent(roomId: string, type: string, stateKey: string): Promise<Record<string, unknown> | null> {
    return this.reads.state.getStateEvent(roomId, type, stateKey);
  }

  /** Plugs in where `m.ignored_user_list` comes from (server/client's account data). */
  /** Where each recipient's push verdict on a new event comes from (published with the event). */
  usePushVerdicts(port: PushVerdictPort): void {
    this.core.pushVerdict = port;
  }

  useIgnoredUsers(port: IgnoredUsersPort): void {
    this.core.useIgnoredUsers(port);
  }

  /** Users whose events `userId` is not sent (their messages, their invites). */
  ignoredBy(userId: string): Promise<ReadonlySet<string>> {
    return this.core.ignoredBy(userId);
  }

  visibleTo(userId: string, roomId: string): Promise<(row: EventRow) => boolean> {
    return this.reads.state.visibleTo(userId, roomId);
  }

  // ---------------------------------------------------------------- RoomMembership

  membershipsOf(userId: string, opts: { consistent?: boolean } = {}): Promise<UserMembership[]> {
    return this.members.membershipsOf(userId, opts);
  }

  joinedRoomIds(userId: string): Promise<string[]> {
    return this.members.joinedRoomIds(userId);
  }

  activeRoomIds(userId: string): Promise<string[]> {
    return this.members.activeRoomIds(userId);
  }

  membership(roomId: string, userId: string): Promise<string | null> {
    return this.members.membership(roomId, userId);
  }

  joinedMembers(roomId: string): Promise<string[]> {
    return this.members.joinedMembers(roomId);
  }

  usersSharingRoomsWith(userId: string): Promise<string[]> {
    return this.members.usersSharingRoomsWith(userId);
  }

  eventInRoom(roomId: string, eventId: string): Promise<boolean> {
    return this.members.eventInRoom(roomId, eventId);
  }
}

/** The service as the rooms handlers see it: everything but the storage reads kept for others. */
export type RoomsApi = Omit<RoomsService, "repo">;
