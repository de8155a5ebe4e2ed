import { startTestServer } from "../helpers/server.ts";
import { pushScenario } from "./push-scenario.ts";

// npm start's shape: notifications in the homeserver's process, events on the in-process bus.
pushScenario("push through the all-in-one homeserver", async () => {
  const s = await startTestServer();
  return { baseUrl: s.baseUrl, stop: () => s.close() };
});
