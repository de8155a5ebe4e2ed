/**
 * `@localpart:server` in text, by the Matrix user id grammar: a localpart of [a-z0-9._=/+-]
 * (historical ids aside), a server name that is a DNS name, IPv4 or [IPv6] literal with an
 * optional port. A trailing dot ends a sentence, not the server name; an address like
 * `me@x:y` is not a mention (the `@` must not follow a word character).
 */
const MENTION =
  /(?<![\w@])@([a-z0-9._=/+-]+):(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?/g;

/** The distinct user ids named in `text`, in order of first mention, without `exclude`. */
export function parseMentions(text: string, exclude?: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(MENTION)) {
    const id = `@${m[1]}:${m[2]}${m[3] ? `:${m[3]}` : ""}`;
    if (id.length > 255 || id === exclude) continue;
    out.add(id);
  }
  return [...out];
}
