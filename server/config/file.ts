import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { extname } from "node:path";
import { ConfigError } from "../../companion-services/platform/config.ts";
import { envNameFor, nearestName } from "./keys.ts";

// The parsers load with the first file of their kind: most servers read no NOVA_CONFIG at all,
// and loadConfig stays synchronous (both packages ship CommonJS builds).
const load = createRequire(import.meta.url);
const smolToml = () => load("smol-toml") as typeof import("smol-toml");
const yaml = () => load("yaml") as typeof import("yaml");

/** What a NOVA_CONFIG file sets: variable → value as the environment would spell it, and the key it came from. */
export type FileSettings = {
  values: Record<string, string>;
  /** Variable → the key path as written in the file (`ratelimit.send`), for messages. */
  keys: Record<string, string>;
};

export type FileRules = {
  /** Every variable the file may set. */
  known: ReadonlySet<string>;
  /** Variables read from the environment only, each with the reason it cannot be in the file. */
  envOnly?: Readonly<Record<string, string>>;
};

/**
 * Reads a NOVA_CONFIG file (`.toml`, `.yaml` or `.yml`) into environment-style values. Every
 * mistake — unreadable file, unknown extension, syntax error (with its line), unknown key, a
 * value that is not a scalar or a list of scalars, one variable set twice — is a ConfigError:
 * the entry points print its one line and exit 2.
 */
export function readConfigFile(file: string, rules: FileRules): FileSettings {
  const fail = (msg: string): never => {
    throw new ConfigError(`invalid configuration: NOVA_CONFIG ${file}: ${msg}`);
  };
  const ext = extname(file).toLowerCase();
  if (ext !== ".toml" && ext !== ".yaml" && ext !== ".yml")
    fail(`unsupported extension "${ext || "(none)"}", expected .toml, .yaml or .yml`);
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    fail(readFailure(err));
  }
  const root = ext === ".toml" ? parseTomlText(text, fail) : parseYamlText(text, fail);
  const out: FileSettings = { values: {}, keys: {} };
  const visit = (table: Record<string, unknown>, path: string[]) => {
    for (const [key, value] of Object.entries(table)) {
      const at = [...path, key];
      if (isTable(value)) {
        visit(value, at);
        continue;
      }
      const shown = at.join(".");
      const name = envNameFor(at, rules.known);
      if (!rules.known.has(name)) {
        const envOnly = [at.join("_").toUpperCase(), name].find((n) => rules.envOnly?.[n]);
        if (envOnly) fail(`"${shown}": ${envOnly} ${rules.envOnly![envOnly]}`);
        const near = nearestName(at, rules.known);
        fail(`unknown setting "${shown}" (${name})${near ? `; did you mean ${near}?` : ""}`);
      }
      const earlier = out.keys[name];
      if (earlier !== undefined) fail(`"${shown}" and "${earlier}" both set ${name}`);
      out.values[name] = scalarText(value, shown, fail);
      out.keys[name] = shown;
    }
  };
  visit(root, []);
  return out;
}

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return `cannot read (${code ?? String(err)})`;
}

function parseTomlText(text: string, fail: (msg: string) => never): Record<string, unknown> {
  const { parse: parseToml, TomlError } = smolToml();
  try {
    return parseToml(text, { unsafeKeyBehaviour: "throw" });
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // smol-toml's message is "Invalid TOML document: <what>" followed by a code frame.
    const what = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    return fail(`line ${err.line}, column ${err.column}: ${what}`);
  }
}

function parseYamlText(text: string, fail: (msg: string) => never): Record<string, unknown> {
  const doc = yaml().parseDocument(text, { prettyErrors: true });
  const [first] = doc.errors;
  if (first) {
    const pos = first.linePos?.[0];
    const what = first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:$/, "");
    fail(pos ? `line ${pos.line}, column ${pos.col}: ${what}` : what);
  }
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return {};
  if (!isTable(root)) return fail("expected a mapping of settings at the top level");
  return root;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * A file value as the environment spells it: strings as they are, numbers in decimal, booleans
 * `true`/`false` (every boolean setting accepts them), TOML dates in ISO 8601, lists joined with
 * commas (the list settings split on commas).
 */
function scalarText(value: unknown, key: string, fail: (msg: string) => never): string {
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        if (Array.isArray(item) || isTable(item)) fail(`"${key}": a list may hold only strings and numbers`);
        const s = scalarText(item, key, fail);
        if (s.includes(",")) fail(`"${key}": list items cannot contain "," (the list is joined with commas)`);
        return s;
      })
      .join(",");
  }
  if (typeof value === "string") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) fail(`"${key}": ${value} is not a finite number`);
    return String(value);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  // Objects that are not tables come only from TOML (its dates), so YAML never loads smol-toml here.
  if (value !== null && typeof value === "object" && value instanceof smolToml().TomlDate)
    return value.toISOString();
  if (value === null) return fail(`"${key}" has no value`);
  return fail(`"${key}": unsupported value`);
}
