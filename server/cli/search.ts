import { Databases } from "../../companion-services/platform/database.ts";
import { resetReadModel } from "../../companion-services/search/index.ts";
import { AdminApi } from "./admin-api.ts";
import { type Command, UsageError } from "./command.ts";

/**
 * `nova search reindex`: drops search's read model and rebuilds it from the topics. A running
 * process that runs search (npm start, `nova serve all`, `nova serve search` with NOVA_URL at its
 * listener) does it itself, through the admin API: its consumers move to a new generation of
 * groups that read every topic from the beginning. With no server, the read model is emptied
 * in the database and the next start rebuilds it the same way.
 */
export const SEARCH_REINDEX: Command = {
  usage: "search reindex",
  flags: {},
  async run(args, _flags, config, env) {
    if (args.length !== 0) throw new UsageError("search reindex takes no arguments");
    const api = AdminApi.from(config, env);
    if (await api.serverHolds(config)) {
      try {
        return { ...(await api.call("POST", "/nova/v1/search/reindex", {})), via: "server" };
      } finally {
        await api.close();
      }
    }
    const databases = await Databases.open(["search"], {
      dataDir: config.dataDir,
      urls: config.databaseUrls,
    });
    try {
      const generation = await resetReadModel(databases.get("search"));
      return { generation, via: "database", rebuilt: "at the next start of search" };
    } finally {
      await databases.close();
    }
  },
};
