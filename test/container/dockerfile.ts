import { readFileSync } from "node:fs";

/** What a stage of the Dockerfile leaves in its image (inherited by a stage built `FROM` it). */
export type ImageConfig = {
  cmd: string[] | null;
  healthcheck: string[] | null;
  env: Record<string, string>;
  workdir: string;
  user: string;
  stopsignal: string | null;
  volumes: string[];
};

/**
 * The image config of the Dockerfile's default target (its last stage), following `FROM <stage>`
 * to inherit from earlier stages. Only what Nova's Dockerfile uses: exec-form (JSON) CMD and
 * HEALTHCHECK, `ENV k=v …`, WORKDIR, USER, STOPSIGNAL, VOLUME. Anything it cannot read throws, so
 * a Dockerfile change the tests do not understand fails them instead of passing by accident.
 */
export function readDockerfile(file: string): ImageConfig {
  const stages = new Map<string, ImageConfig>();
  let current: ImageConfig | null = null;
  for (const [instr, rest] of instructions(readFileSync(file, "utf8"))) {
    if (instr === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!m) throw new Error(`Dockerfile: cannot read FROM ${rest}`);
      const base = stages.get(m[1]!);
      current = base
        ? { ...base, env: { ...base.env }, volumes: [...base.volumes] }
        : {
            cmd: null,
            healthcheck: null,
            env: {},
            workdir: "/",
            user: "root",
            stopsignal: null,
            volumes: [],
          };
      if (m[2]) stages.set(m[2], current);
      continue;
    }
    if (!current) continue; // ARG before the first FROM
    if (instr === "CMD") current.cmd = execForm(rest, "CMD");
    else if (instr === "HEALTHCHECK") {
      const m = /^(?:--\S+\s+)*CMD\s+(.*)$/s.exec(rest);
      current.healthcheck = rest.trim() === "NONE" ? null : execForm(m?.[1] ?? "", "HEALTHCHECK");
    } else if (instr === "ENV") {
      for (const m of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) current.env[m[1]!] = m[2]!.replace(/^"|"$/g, "");
    } else if (instr === "WORKDIR") current.workdir = rest;
    else if (instr === "USER") current.user = rest;
    else if (instr === "STOPSIGNAL") current.stopsignal = rest;
    else if (instr === "VOLUME") current.volumes.push(...execForm(rest, "VOLUME"));
  }
  if (!current) throw new Error("Dockerfile: no FROM");
  return current;
}

/** The Dockerfile's instructions in order, each with the stage it is in (null before the first FROM). */
export function readInstructions(file: string): { stage: string | null; instr: string; args: string }[] {
  const out: { stage: string | null; instr: string; args: string }[] = [];
  let stage: string | null = null;
  let n = 0;
  for (const [instr, args] of instructions(readFileSync(file, "utf8"))) {
    if (instr === "FROM") stage = /\sAS\s+(\S+)$/i.exec(args)?.[1] ?? `#${n}`;
    if (instr === "FROM") n++;
    out.push({ stage, instr, args });
  }
  return out;
}

/** The instructions, continuation lines joined and comments dropped. */
function instructions(text: string): [string, string][] {
  const out: [string, string][] = [];
  let line = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw)) continue;
    line += raw.replace(/\\\s*$/, " ");
    if (/\\\s*$/.test(raw)) continue;
    const m = /^\s*(\w+)\s+(.*?)\s*$/s.exec(line);
    if (m) out.push([m[1]!.toUpperCase(), m[2]!]);
    line = "";
  }
  return out;
}

function execForm(json: string, what: string): string[] {
  const v: unknown = JSON.parse(json);
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string"))
    throw new Error(`Dockerfile: ${what} is not in exec form (a JSON array of strings): ${json}`);
  return v;
}
