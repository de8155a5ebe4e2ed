import { randomBytes } from "node:crypto";

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** 18 random letters, the opaque part of Synapse's room ids and of v1–v2 event ids. */
function randomLetters(): string {
  let s = "";
  for (const b of randomBytes(18)) s += LETTERS[b % LETTERS.length];
  return s;
}

/** A fresh room id on this server. */
export function newRoomId(serverName: string): string {
  return `!${randomLetters()}:${serverName}`;
}

/** Event id of room versions 1 and 2: random, with the origin server (later versions hash the event). */
export function randomEventId(serverName: string): string {
  return `$${randomLetters()}:${serverName}`;
}
