import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeReportSection } from "./report.ts";

const REPORT = path.resolve(import.meta.dirname, "REPORT.md");

/**
 * bench/outbox.ts and bench/grpc.ts share the report's platform section
 * (`<!-- platform:start -->` … `<!-- platform:end -->`); each rewrites only its own part inside it.
 */
export function writePlatformPart(part: "outbox" | "grpc", markdown: string): void {
  const start = "<!-- platform:start -->";
  const end = "<!-- platform:end -->";
  let text = existsSync(REPORT) ? readFileSync(REPORT, "utf8") : "# Nova benchmark report\n";
  if (!text.includes(start) || !text.includes(end)) {
    text = `${text.trimEnd()}\n\n${start}\n## Service platform (bench/outbox.ts, bench/grpc.ts)\n\n<!-- platform-outbox:start -->\n<!-- platform-outbox:end -->\n\n<!-- platform-grpc:start -->\n<!-- platform-grpc:end -->\n${end}\n`;
    writeFileSync(REPORT, text);
  }
  // The machine is shared: the load while measuring says how much of it the benchmark had.
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ");
  writeReportSection(
    `platform-${part}`,
    `${markdown.trim()}\n\nLoad average (1/5/15 min) when written: ${load} on ${os.cpus().length} cores.`,
  );
}
