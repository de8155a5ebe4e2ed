import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { OWNERSHIP, type OwnedTable } from "./ownership.ts";
import { RESOLUTIONS } from "./ownership-resolutions.ts";

export const OWNERSHIP_DOC_PATH = fileURLToPath(new URL("../../docs/data-ownership.md", import.meta.url));

/** docs/data-ownership.md, rendered from the manifest (ownership.ts); never edited by hand. */
export function renderOwnershipDoc(): string {
  const out: string[] = [];
  out.push("# Data ownership");
  out.push("");
  out.push(
    "<!-- Generated from companion-services/platform/ownership.ts by `npm run docs:ownership`. Do not edit. -->",
  );
  out.push("");
  out.push(
    "Every table has exactly one owning service, which alone writes it; other services read it through " +
      "the owner's gRPC API or react to the owner's events. Each service's migrations create exactly its " +
      "written and created tables in its own schema (or database), no foreign key crosses services, and on PostgreSQL " +
      "each service connects as its own role that cannot touch another service's schema " +
      "(test/platform/ownership.test.ts, test/platform/roles.test.ts).",
  );
  out.push("");
  out.push(
    "A service is **running** only when code in its folders writes its tables; a **planned** service " +
      "has its tables reserved (its migrations may already create them) and no code writing them. A " +
      "table is **written** when its owner's code writes it, **created** when only its migration " +
      "exists, **planned** when not even that, **dropped** when it will not exist. The ownership test " +
      "reads each service's code for its write statements and fails when this page claims more or " +
      "less than the code does.",
  );
  out.push("");
  out.push("## Summary");
  out.push("");
  out.push("| service | seed name(s) | status | code | written | created | planned | dropped |");
  out.push("|---|---|---|---|---|---|---|---|");
  const totals: Record<DocStatus, number> = { written: 0, created: 0, planned: 0, dropped: 0 };
  for (const s of OWNERSHIP) {
    const count = (st: DocStatus) => s.tables.filter((t) => docStatus(t) === st).length;
    for (const st of DOC_STATUSES) totals[st] += count(st);
    const code = s.code.length > 0 ? s.code.map((c) => `\`${c}/\``).join(", ") : "—";
    out.push(
      `| ${s.service} | ${s.seedNames.join(", ")} | ${s.status} | ${code} | ${DOC_STATUSES.map(count).join(" | ")} |`,
    );
  }
  out.push(`| **total** | | | | ${DOC_STATUSES.map((st) => totals[st]).join(" | ")} |`);
  out.push("");
  out.push("## Contradictions in the seed, resolved");
  out.push("");
  for (const r of RESOLUTIONS) out.push(`- **${r.topic}** → ${r.resolution}`);
  out.push("");
  for (const s of OWNERSHIP) {
    out.push(`## ${s.service}`);
    out.push("");
    out.push(
      `Seed: ${s.seedNames.join(", ")}. Status: ${s.status}.${s.note ? ` ${capitalize(s.note)}.` : ""}`,
    );
    if (s.migrations) out.push(`Migrations: \`migrations/${s.migrations}/\`.`);
    out.push("");
    if (s.tables.length === 0) {
      out.push("Owns no tables.");
      out.push("");
      continue;
    }
    out.push("| table | status | in seed | holds | note |");
    out.push("|---|---|---|---|---|");
    for (const t of s.tables) {
      out.push(
        `| \`${t.name}\` | ${docStatus(t)} | ${t.seed ? "yes" : "no"} | ${t.purpose} | ${t.note ?? ""} |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}

const DOC_STATUSES = ["written", "created", "planned", "dropped"] as const;
type DocStatus = (typeof DOC_STATUSES)[number];

function docStatus(t: OwnedTable): DocStatus {
  if (t.status === "built") return t.written === false ? "created" : "written";
  return t.status;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OWNERSHIP_DOC_PATH, renderOwnershipDoc());
  console.log(`wrote ${OWNERSHIP_DOC_PATH}`);
}
