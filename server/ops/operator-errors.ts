import { ConfigError } from "../../companion-services/platform/config.ts";
import { DataDirLockedError } from "../../companion-services/platform/data-dir-lock.ts";
import {
  AddressInUseError,
  LISTEN_ERROR_EXIT_CODE,
} from "../../companion-services/platform/http/listen-error.ts";

/** An operation an operator asked for was refused or failed for a reason its message states. */
export class OperationError extends Error {}

/** Exit code of a configuration mistake (as for a usage error): fix the settings, not the server. */
export const EXIT_CONFIG = 2;
/** Exit code when the data directory is held by another process. */
export const EXIT_LOCKED = 1;

/**
 * A failure an operator fixes (bad setting, data directory in use) as its one line and exit code,
 * printed without a stack trace by server/main.ts and server/cli.ts; null for anything else.
 */
export function operatorError(err: unknown): { line: string; code: number } | null {
  if (err instanceof ConfigError) return { line: err.message, code: EXIT_CONFIG };
  if (err instanceof AddressInUseError) return { line: err.message, code: LISTEN_ERROR_EXIT_CODE };
  if (err instanceof DataDirLockedError) return { line: err.message, code: EXIT_LOCKED };
  if (err instanceof OperationError) return { line: err.message, code: 1 };
  return null;
}
