import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const REPORT = path.resolve(import.meta.dirname, "REPORT.md");

/** The machine a benchmark ran on, for the report. */
export function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/**
 * Writes one benchmark's section of bench/REPORT.md between `<!-- name:start -->` and
 * `<!-- name:end -->`, leaving the other benchmarks' sections as they are.
 */
export function writeReportSection(name: string, markdown: string): void {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  let text = existsSync(REPORT)
    ? readFileSync(REPORT, "utf8")
    : "# Nova benchmark report\n\nEach section is written by its benchmark (`npm run bench`); numbers are from the machine named in the section.\n";
  const block = `${start}\n${markdown.trim()}\n\n_Measured ${new Date().toISOString()} on ${machineLine()}._\n${end}`;
  const s = text.indexOf(start);
  const e = text.indexOf(end);
  if (s >= 0 && e > s) text = text.slice(0, s) + block + text.slice(e + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(REPORT, text);
}

/** Percentile of an ascending-sorted array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
