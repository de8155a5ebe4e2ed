import { startTestServer } from "../helpers/server.ts";
import { mediaScenario } from "./media-scenario.ts";

mediaScenario("media with matrix-js-sdk (npm start: media in the homeserver's process)", async () => {
  const server = await startTestServer();
  return { baseUrl: server.baseUrl, stop: () => server.close() };
});
