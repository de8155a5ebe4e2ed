import { freshDatabase, startServerProcess } from "../helpers/process.ts";
import { chatScenario } from "./chat-scenario.ts";

chatScenario("matrix-js-sdk against npm start's server", async () => {
  const db = await freshDatabase();
  const server = await startServerProcess(db ? { DATABASE_URL: db.url } : {});
  return {
    baseUrl: server.baseUrl,
    async stop() {
      await server.stop();
      await db?.drop();
    },
  };
});
