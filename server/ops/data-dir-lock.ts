/**
 * The data-directory lock, for the CLI and operations code: the implementation lives in the
 * platform because Databases (companion-services/platform/database.ts) takes it whenever it opens
 * the embedded PGlite, and the platform may import nothing above it.
 */
export {
  acquireDataDirLock,
  DataDirLockedError,
  ensureDataDir,
  LOCK_FILE,
  readDataDirLock,
} from "../../companion-services/platform/data-dir-lock.ts";
