/** Every service that owns a database (schema in all-in-one mode). `messaging` is the homeserver. */
export const SERVICE_NAMES = [
  "identity",
  "messaging",
  "graph",
  "content",
  "media",
  "feed",
  "notifications",
  "search",
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];
