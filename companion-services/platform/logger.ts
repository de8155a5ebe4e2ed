import { pino } from "pino";

export type Logger = pino.Logger;

/** JSON logs, one line per event. Tests pass level "silent". */
export function createLogger(level: string, name = "nova"): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
