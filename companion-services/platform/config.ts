import type { z } from "zod";

/** A configuration mistake: the process prints this one line and exits, with no stack trace. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Parses an environment with a zod schema; every offending variable named in one line. `origin`
 * says where a variable's value came from when not the environment (`from NOVA_CONFIG key "port"`),
 * so the line points at what to fix.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv,
  origin?: (name: string) => string | undefined,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => {
        const name = i.path.join(".");
        const from = origin?.(name);
        return `${name}${from ? ` (${from})` : ""}: ${i.message}`;
      })
      .join("; ");
    throw new ConfigError(`invalid configuration: ${issues}`);
  }
  return parsed.data;
}

/** "a, b,,c" → ["a", "b", "c"]. */
export function splitList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
