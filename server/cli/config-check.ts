import { maskSetting } from "../config/mask.ts";
import { effectiveSettings } from "../config.ts";
import { type Command, UsageError } from "./command.ts";

/**
 * `nova config check [--json]`: the environment and the NOVA_CONFIG file, validated as `npm start`
 * would; then every setting, one a line, with where its value came from (env, file, default, or
 * unset) and secrets masked. An invalid configuration never gets here: the dispatcher's
 * loadConfig fails first with the one line and exit code 2 that `npm start` gives.
 */
export const CONFIG_CHECK: Command = {
  usage: "config check [--json]",
  flags: { json: true },
  async run(args, flags, _config, env) {
    if (args.length) throw new UsageError(`unexpected argument: ${args[0]}`);
    const { file, settings } = effectiveSettings(env);
    const shown = settings.map((s) => ({
      ...s,
      value: s.value === undefined ? undefined : maskSetting(s.name, s.value),
    }));
    if (flags.json) {
      return {
        valid: true,
        file: file ?? null,
        settings: Object.fromEntries(
          shown.map((s) => [s.name, { value: s.value ?? null, source: s.source }]),
        ),
      };
    }
    const lines = [`# valid; ${file ? `NOVA_CONFIG=${file}` : "no NOVA_CONFIG file"}`];
    for (const s of shown)
      lines.push(`${s.source.padEnd(7)}  ${s.name}${s.value === undefined ? "" : `=${s.value}`}`);
    process.stdout.write(`${lines.join("\n")}\n`);
    return undefined;
  },
};
