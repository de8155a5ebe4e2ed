/** One `Range: bytes=…` request against a length (RFC 9110 §14). Pure. */
export type RangeResult =
  | { kind: "whole" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

export function parseRange(header: string | undefined, length: number): RangeResult {
  if (!header) return { kind: "whole" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, other units or junk: a server may ignore the header and send everything.
  if (!m) return { kind: "whole" };
  const [, a, b] = m;
  if (a === "" && b === "") return { kind: "whole" };
  if (length === 0) return { kind: "unsatisfiable" };
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(a);
  const end = b === "" ? length - 1 : Math.min(Number(b), length - 1);
  if (start >= length || end < start) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end };
}
