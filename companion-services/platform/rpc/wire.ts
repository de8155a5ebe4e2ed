/**
 * An object as proto3 sends it: without its null and undefined fields, since an optional field is
 * absent on the wire, not null (a service's `*ToWire` mappers go through this).
 */
export function present<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: NonNullable<T[K]> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: NonNullable<T[K]> };
}
