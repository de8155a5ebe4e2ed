import {
  ClientEvent,
  createClient,
  Direction,
  type MatrixClient,
  type MatrixEvent,
  RoomMemberEvent,
  SyncState,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.ts";

// matrix-js-sdk logs through loglevel, whose setLevel its typings do not expose.
(logger as unknown as { setLevel(level: string): void }).setLevel("error");

async function registeredClient(baseUrl: string, localpart: string): Promise<MatrixClient> {
  const res = await fetch(`${baseUrl}/_matrix/client/v3/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: localpart, password: "e2e password", auth: { type: "m.login.dummy" } }),
  });
  const body = (await res.json()) as { user_id: string; access_token: string; device_id: string };
  expect(res.status).toBe(200);
  return createClient({
    baseUrl,
    userId: body.user_id,
    accessToken: body.access_token,
    deviceId: body.device_id,
  });
}

async function startSyncing(client: MatrixClient): Promise<void> {
  const prepared = new Promise<void>((resolve, reject) => {
    client.on(ClientEvent.Sync, (state: SyncState) => {
      if (state === SyncState.Prepared) resolve();
      if (state === SyncState.Error) reject(new Error("sync error"));
    });
  });
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
}

function bodies(client: MatrixClient, roomId: string): string[] {
  return (client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [])
    .filter((e) => e.getType() === "m.room.message")
    .map((e) => e.getContent().body as string);
}

/** A running homeserver the scenario talks to, however it was started. */
export type ScenarioServer = { baseUrl: string; stop(): Promise<unknown> };

/**
 * The core chat scenario with a real client: two matrix-js-sdk users register, create a room,
 * invite, join, exchange messages, paginate history, see typing and receipts.
 */
export function chatScenario(name: string, start: () => Promise<ScenarioServer>): void {
  describe(name, () => {
    let server: ScenarioServer;
    let alice: MatrixClient;
    let bob: MatrixClient;
    let roomId: string;

    beforeAll(async () => {
      server = await start();
      alice = await registeredClient(server.baseUrl, "alice");
      bob = await registeredClient(server.baseUrl, "bob");
      await startSyncing(alice);
      await startSyncing(bob);
    }, 90_000);

    afterAll(async () => {
      alice?.stopClient();
      bob?.stopClient();
      await server?.stop();
    });

    it("creates a room, invites, and the invitee joins", async () => {
      const invited = new Promise<string>((resolve) => {
        bob.on(RoomMemberEvent.Membership, (_e: MatrixEvent, member) => {
          if (member.userId === bob.getUserId() && member.membership === "invite") resolve(member.roomId);
        });
      });
      const created = await alice.createRoom({ name: "e2e room", invite: [bob.getUserId()!] });
      roomId = created.room_id;
      expect(await invited).toBe(roomId);
      await bob.joinRoom(roomId);
      await waitFor(
        "bob joined on alice's side",
        () => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join",
      );
      expect(alice.getRoom(roomId)?.name).toBe("e2e room");
    });

    it("exchanges messages both ways", async () => {
      await alice.sendTextMessage(roomId, "hello bob");
      await waitFor("bob sees alice's message", () => bodies(bob, roomId).includes("hello bob"));
      await bob.sendTextMessage(roomId, "hi alice");
      await waitFor("alice sees bob's message", () => bodies(alice, roomId).includes("hi alice"));
    });

    it("paginates /messages backwards through history", async () => {
      for (let i = 0; i < 30; i++) await alice.sendTextMessage(roomId, `history ${i}`);
      await waitFor("bob has the last history message", () => bodies(bob, roomId).includes("history 29"));
      const seen: string[] = [];
      let from: string | null = null;
      for (let page = 0; page < 10; page++) {
        const res = await bob.createMessagesRequest(roomId, from, 10, Direction.Backward);
        for (const e of res.chunk) if (e.type === "m.room.message") seen.push(e.content.body as string);
        if (!res.end) break;
        from = res.end;
      }
      for (let i = 0; i < 30; i++) expect(seen).toContain(`history ${i}`);
      expect(seen.indexOf("history 29")).toBeLessThan(seen.indexOf("history 0"));
      expect(seen).toContain("hello bob");
    });

    it("sees typing notifications", async () => {
      await bob.sendTyping(roomId, true, 10_000);
      await waitFor(
        "alice sees bob typing",
        () => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.typing === true,
      );
      await bob.sendTyping(roomId, false, 0);
      await waitFor(
        "alice sees bob stop typing",
        () => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.typing === false,
      );
    });

    it("sees read receipts", async () => {
      const room = bob.getRoom(roomId)!;
      const last = room.getLiveTimeline().getEvents().at(-1)!;
      await bob.sendReadReceipt(last);
      await waitFor("alice sees bob's receipt", () =>
        alice
          .getRoom(roomId)
          ?.getReceiptsForEvent(alice.getRoom(roomId)!.findEventById(last.getId()!)!)
          .some((r) => r.userId === bob.getUserId() && r.type === "m.read"),
      );
    });
  });
}
