import { invalidParam } from "../platform/errors.ts";
import { MAX_TERM } from "./client.ts";

/**
 * A search term as the read model's queries take it: a string of 1 to MAX_TERM characters,
 * without NUL (PostgreSQL refuses it). websearch_to_tsquery never fails on what a user types
 * (quotes, `-`, `or`, punctuation), so any such term is safe to send.
 */
export function checkTerm(term: unknown, name = "search_term"): string {
  if (typeof term !== "string") throw invalidParam(`${name} must be a string`);
  if (term.includes("\u0000")) throw invalidParam(`${name} must not contain NUL`);
  if (term.length > MAX_TERM) throw invalidParam(`${name} is longer than ${MAX_TERM} characters`);
  if (term.trim() === "") throw invalidParam(`${name} must not be empty`);
  return term;
}

/** A LIKE pattern matching `s` anywhere, with LIKE's own characters taken literally. */
export function containsPattern(s: string): string {
  return `%${s.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
