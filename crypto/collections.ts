/** The value under `key` in a plain-object map, created with `make` when absent. */
export function entry<T>(obj: Record<string, T>, key: string, make: () => NoInfer<T>): T {
  let v = obj[key];
  if (v === undefined) {
    v = make();
    obj[key] = v;
  }
  return v;
}

/** The value under `key` in a Map, created with `make` when absent. */
export function mapEntry<K, V>(map: Map<K, V>, key: K, make: () => NoInfer<V>): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}
