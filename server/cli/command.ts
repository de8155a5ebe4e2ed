import type { NovaConfig } from "../config.ts";

export type Flags = Record<string, string | true>;

export type Command = {
  usage: string;
  /** Flags the command accepts; `true` marks a boolean switch, `false` one that takes a value. */
  flags: Record<string, boolean>;
  run(args: string[], flags: Flags, config: NovaConfig, env: NodeJS.ProcessEnv): Promise<unknown>;
};

export class UsageError extends Error {}

export function positiveInt(value: string | true | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (value === true || !/^[0-9]+$/.test(value) || Number(value) < 1)
    throw new UsageError(`--${name} must be a positive integer`);
  return Number(value);
}

export function one(args: string[], what: string): string {
  if (args.length !== 1 || !args[0]) throw new UsageError(`expected exactly one <${what}>`);
  return args[0];
}
