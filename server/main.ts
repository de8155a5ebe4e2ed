import { createLogger } from "../companion-services/platform/logger.ts";
import { createNova } from "./app.ts";
import { loadConfig, type NovaConfig } from "./config.ts";
import { operatorError } from "./ops/operator-errors.ts";

/** A bad setting or a held data directory: its one line and exit code, no stack trace. */
function exitOnOperatorError(err: unknown): never {
  const known = operatorError(err);
  if (!known) throw err;
  process.stderr.write(`${known.line}\n`);
  process.exit(known.code);
}

// The environment (over the NOVA_CONFIG file, if it names one) is read here, once; everything
// below is given the parsed config.
let config: NovaConfig;
try {
  config = loadConfig(process.env);
} catch (err) {
  exitOnOperatorError(err);
}
const logger = createLogger(config.logLevel);
// A busy port or a held data directory: one line and its exit code (operator-errors.ts).
const nova = await createNova(config, { logger }).catch(exitOnOperatorError);

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
