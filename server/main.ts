import { createLogger } from "../companion-services/platform/logger.ts";
import { createNova } from "./app.ts";
import { loadConfig } from "./config.ts";

const config = loadConfig();
const logger = createLogger(config.logLevel);
const nova = await createNova(config, { logger });

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await nova.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
