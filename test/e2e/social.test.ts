import { startTestServer } from "../helpers/server.ts";
import { socialScenario } from "./social-scenario.ts";

// npm start's shape: graph, content, feed, search, media and notifications in the homeserver's
// process, on their own schemas, events on the in-process bus.
socialScenario("the social product through the all-in-one homeserver", async () => {
  const s = await startTestServer();
  return { baseUrl: s.baseUrl, stop: () => s.close() };
});
