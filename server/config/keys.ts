/**
 * How a key of the NOVA_CONFIG file names an environment variable. A key path (nested tables
 * joined with `_`, upper-cased) that is itself a known variable is that variable (`NOVA_PORT`,
 * `DATABASE_URL`, `[media] http_port` → MEDIA_HTTP_PORT); otherwise `NOVA_` is put in front
 * (`port` → NOVA_PORT, `[ratelimit] send_ip` → NOVA_RATELIMIT_SEND_IP). The rule is unambiguous
 * while no variable X has a sibling NOVA_X, which ambiguousNames() checks (and a test asserts).
 */
export function envNameFor(path: readonly string[], known: ReadonlySet<string>): string {
  const joined = path.join("_").toUpperCase();
  return known.has(joined) ? joined : `NOVA_${joined}`;
}

/** Variables X for which NOVA_X exists too: a file key `x` could mean either. Empty by design. */
export function ambiguousNames(known: ReadonlySet<string>): string[] {
  return [...known].filter((name) => known.has(`NOVA_${name}`));
}

/** The known variable closest to what an unknown key spells, if it is close enough to be a typo. */
export function nearestName(path: readonly string[], known: ReadonlySet<string>): string | undefined {
  const joined = path.join("_").toUpperCase();
  const candidates = [joined, `NOVA_${joined}`];
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    for (const c of candidates) {
      const d = editDistance(c, name);
      if (!best || d < best.distance) best = { name, distance: d };
    }
  }
  if (!best) return undefined;
  // A third of the name may differ, up to 3 edits: `sned` → SEND, `sever_name` → SERVER_NAME.
  return best.distance <= Math.min(3, Math.ceil(best.name.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
