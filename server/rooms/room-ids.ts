import { randomBytes } from "node:crypto";

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A fresh room id: 18 random letters, like Synapse's, on this server. */
export function newRoomId(serverName: string): string {
  const bytes = randomBytes(18);
  let s = "";
  for (const b of bytes) s += LETTERS[b % LETTERS.length];
  return `!${s}:${serverName}`;
}
