import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { OWNERSHIP, RESOLUTIONS } from "./ownership.ts";

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
      "`built` tables in its own schema (or database), no foreign key crosses services, and on PostgreSQL " +
      "each service connects as its own role that cannot touch another service's schema " +
      "(test/platform/ownership.test.ts, test/platform/roles.test.ts).",
  );
  out.push("");
  out.push("## Summary");
  out.push("");
  out.push("| service | seed name(s) | status | built | planned | dropped |");
  out.push("|---|---|---|---|---|---|");
  let totals = { built: 0, planned: 0, dropped: 0 };
  for (const s of OWNERSHIP) {
    const count = (st: string) => s.tables.filter((t) => t.status === st).length;
    totals = {
      built: totals.built + count("built"),
      planned: totals.planned + count("planned"),
      dropped: totals.dropped + count("dropped"),
    };
    out.push(
      `| ${s.service} | ${s.seedNames.join(", ")} | ${s.status} | ${count("built")} | ${count("planned")} | ${count("dropped")} |`,
    );
  }
  out.push(`| **total** | | | ${totals.built} | ${totals.planned} | ${totals.dropped} |`);
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
      out.push(`| \`${t.name}\` | ${t.status} | ${t.seed ? "yes" : "no"} | ${t.purpose} | ${t.note ?? ""} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OWNERSHIP_DOC_PATH, renderOwnershipDoc());
  console.log(`wrote ${OWNERSHIP_DOC_PATH}`);
}
