import { CALL_MEMBER_EVENT } from "../../../calls/call-service.ts";
import type { TestServer } from "../../helpers/server.ts";

export type TestUser = { userId: string; deviceId: string; accessToken: string };

/**
 * A public room where members may write MatrixRTC membership (as rooms made for calls do: Element
 * Call sets the event's power level to 0), with `members` joined.
 */
export async function callRoom(server: TestServer, creator: TestUser, members: TestUser[]): Promise<string> {
  const r = await server.call("POST", "/_matrix/client/v3/createRoom", {
    token: creator.accessToken,
    body: {
      preset: "public_chat",
      power_level_content_override: { events: { [CALL_MEMBER_EVENT]: 0 } },
    },
  });
  if (r.status !== 200) throw new Error(`createRoom: ${JSON.stringify(r.body)}`);
  const roomId = r.body.room_id as string;
  for (const m of members) {
    const j = await server.call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {
      token: m.accessToken,
      body: {},
    });
    if (j.status !== 200) throw new Error(`join: ${JSON.stringify(j.body)}`);
  }
  return roomId;
}
