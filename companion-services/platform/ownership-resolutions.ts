/** The seed's contradictions, each resolved once. */
export const RESOLUTIONS: { topic: string; resolution: string }[] = [
  {
    topic: "`blocks` has two writers (Messaging's table list, Graph's write pattern)",
    resolution:
      "messaging owns it: ignoring a user is enforced by the homeserver when it delivers events; graph learns of blocks from events.",
  },
  {
    topic: "Auth Service vs identity-service",
    resolution:
      "one service, named `identity` (the seed's outbox table and its own summary use identity-service).",
  },
  {
    topic: "User Service vs graph-service vs social-service",
    resolution:
      "one service, `graph`, owning follows and social_metadata; profiles stay in identity's `users` as the seed says.",
  },
  {
    topic: "Video Service: deprecated, yet given a `nova_video` database in the Phase 1 plan",
    resolution: "no video service and no video database: its tables are media's, as its own section says.",
  },
  {
    topic:
      "Table counts that do not add up (Auth 14 listed vs 15, Messaging 21 vs 22, Media 10 vs 11, Content 9+outbox vs 10, Experiments 5 vs 4, ~71 in total)",
    resolution:
      "counts are derived from this manifest, never written by hand; every service that publishes has its own outbox_events and processed_events.",
  },
  {
    topic: "`olm_sessions` (and `megolm_outbound_sessions`) listed as server tables",
    resolution:
      "dropped: Olm sessions and outbound Megolm sessions live only on devices; the server never holds them.",
  },
  {
    topic: "`conversation_counters` for message ordering",
    resolution: "dropped: one global stream sequence orders all writes, so /sync never skips a late commit.",
  },
  {
    topic: "outbox `aggregate_id UUID`",
    resolution: "text: Nova's aggregates are Matrix identifiers (@user:server, !room:server), not UUIDs.",
  },
  {
    topic: "Search reads other services' tables through read replicas; elsewhere it owns no tables",
    resolution:
      "search reads nothing directly: it consumes events (Rule 2 and Rule 5) into tables of its own schema that are derived copies, not sources: written only by search, rebuildable from the topics (`nova search reindex`), so owning them takes nothing from their sources' owners.",
  },
];
