import type { Kysely } from "kysely";
import type { GraphTables } from "../../companion-services/graph/tables.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../platform/helpers.ts";

export type User = { userId: string; accessToken: string };

/** A homeserver (graph in-process) and a way to make users graph has heard of. */
export async function graphServer() {
  const server = await startTestServer();
  const graphDb = server.ctx.databases.get<GraphTables>("graph").db;
  /** A registered user whose social_metadata row has arrived (identity's event reached graph). */
  const user = async (): Promise<User> => {
    const u = await server.register();
    await waitFor(
      async () => (await rowOf(graphDb, u.userId)) !== undefined,
      10_000,
      `social_metadata of ${u.userId}`,
    );
    return u;
  };
  const api = (method: string, path: string, who: User | null, body?: unknown) =>
    server.call(method, path, {
      ...(who ? { token: who.accessToken } : {}),
      ...(body !== undefined ? { body } : {}),
    });
  const follow = (who: User, target: string) =>
    api("PUT", `/_nova/v1/users/${encodeURIComponent(target)}/follow`, who);
  const unfollow = (who: User, target: string) =>
    api("DELETE", `/_nova/v1/users/${encodeURIComponent(target)}/follow`, who);
  const social = (who: User, target: string) =>
    api("GET", `/_nova/v1/users/${encodeURIComponent(target)}/social`, who);
  /** Waits until graph's counts consumer has caught up to these counts. */
  const countsReach = (userId: string, followers: number, following: number) =>
    waitFor(
      async () => {
        const r = await rowOf(graphDb, userId);
        return r?.follower_count === followers && r?.following_count === following;
      },
      10_000,
      `counts of ${userId} = ${followers}/${following}`,
    );
  return { server, graphDb, user, api, follow, unfollow, social, countsReach };
}

export function rowOf(db: Kysely<GraphTables>, userId: string) {
  return db.selectFrom("social_metadata").selectAll().where("user_id", "=", userId).executeTakeFirst();
}

export type GraphServer = Awaited<ReturnType<typeof graphServer>> & { server: TestServer };
