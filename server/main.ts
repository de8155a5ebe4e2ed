import { ConfigError } from "../companion-services/platform/config.ts";
import { exitOnListenError } from "../companion-services/platform/http/listen-error.ts";
import { createLogger } from "../companion-services/platform/logger.ts";
import { createNova } from "./app.ts";
import { loadConfig, type NovaConfig } from "./config.ts";

// The environment is read here, once; everything below is given the parsed config.
let config: NovaConfig;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  // One line naming the variable, no stack trace.
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
const logger = createLogger(config.logLevel);
// A busy port: one line, exit code 2 (listen-error.ts).
const nova = await createNova(config, { logger }).catch(exitOnListenError);

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
