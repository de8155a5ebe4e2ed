import { isDeepStrictEqual } from "node:util";
import { invalidParam, MatrixError } from "../../../companion-services/platform/errors.ts";
import { isValidRoomAlias } from "../../ids.ts";
import { type SendOptions, txnOf } from "../caches/txn-ids.ts";
import type { RoomsCore } from "../core.ts";
import type { RoomWriter } from "./persist.ts";
import type { Redactor } from "./redact.ts";
import { checkRelation } from "./relation-checks.ts";

function checkEventType(type: string): void {
  if (type.length === 0 || Buffer.byteLength(type) > 255)
    throw invalidParam("Event type must be 1–255 bytes.");
}

/** A tombstone naming its own room would send clients in a loop (Synapse refuses it with 400). */
function checkTombstone(roomId: string, type: string, content: Record<string, unknown>): void {
  if (type === "m.room.tombstone" && content.replacement_room === roomId)
    throw invalidParam("A tombstone cannot point to the room it is sent in.");
}

/** PUT /send and PUT /state: one event per request, through the write path. */
export class Sender {
  constructor(
    private readonly core: RoomsCore,
    private readonly writer: RoomWriter,
    private readonly redactor: Redactor,
  ) {}

  /** Sends a message (non-state) event; idempotent per (device, txnId) when both are given. */
  async sendEvent(
    sender: string,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    opts: SendOptions = {},
  ): Promise<string> {
    checkEventType(type);
    checkTombstone(roomId, type, content);
    if (type === "m.room.redaction") {
      const redacts = content.redacts;
      if (typeof redacts !== "string") throw invalidParam("m.room.redaction needs content.redacts");
      return this.redactor.redact(sender, roomId, redacts, content, opts);
    }
    const txn = txnOf(sender, `send/${roomId}/${type}`, opts);
    return this.core.txnIds.once(txn, async () => {
      try {
        await checkRelation(this.core, roomId, type, sender, content);
      } catch (err) {
        // A retried send of a reaction that went through: its own event answers, not a duplicate.
        const { writes } = this.core.repo;
        const existing =
          txn && err instanceof MatrixError && err.errcode === "M_DUPLICATE_ANNOTATION"
            ? await writes.txnEventId(txn.userId, txn.deviceId, txn.scope, txn.txnId)
            : null;
        if (existing) return existing;
        throw err;
      }
      return this.writer.sends.send(roomId, { type, content, sender }, txn);
    });
  }

  /**
   * Sends a state event. Re-sending the same content by the same sender returns the current event
   * and writes nothing (as Synapse does), so retried PUTs are idempotent too.
   */
  async sendStateEvent(
    sender: string,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string> {
    checkEventType(type);
    checkTombstone(roomId, type, content);
    if (Buffer.byteLength(stateKey) > 255) throw invalidParam("state_key is longer than 255 bytes");
    if (type === "m.room.canonical_alias") await this.checkCanonicalAlias(roomId, content);
    const r = await this.writer.persist(roomId, (snap) => {
      const current = snap.get(type, stateKey);
      if (current && current.pdu.sender === sender && isDeepStrictEqual(current.pdu.content, content)) {
        return { drafts: [], existing: current.eventId };
      }
      return { drafts: [{ type, stateKey, content, sender }] };
    });
    return r.eventIds[0]!;
  }

  /**
   * As Synapse: only aliases the event adds are checked (an alias deleted since may stay), a
   * malformed one is M_INVALID_PARAM and one that does not point here M_BAD_ALIAS.
   */
  private async checkCanonicalAlias(roomId: string, content: Record<string, unknown>): Promise<void> {
    const before = (await this.core.snapshots.get(roomId))?.get("m.room.canonical_alias", "")?.pdu.content;
    const had = new Set<unknown>([
      before?.alias,
      ...(Array.isArray(before?.alt_aliases) ? before.alt_aliases : []),
    ]);
    const aliases: unknown[] = [];
    if (content.alias !== undefined && content.alias !== null) aliases.push(content.alias);
    if (content.alt_aliases !== undefined) {
      if (!Array.isArray(content.alt_aliases))
        throw new MatrixError(400, "M_INVALID_PARAM", "alt_aliases must be a list");
      aliases.push(...content.alt_aliases);
    }
    for (const a of aliases) {
      if (had.has(a)) continue;
      if (typeof a !== "string" || !isValidRoomAlias(a)) {
        throw new MatrixError(400, "M_INVALID_PARAM", `${String(a)} is not a room alias`);
      }
      const row = await this.core.repo.conversations.getAlias(a);
      if (!row || row.room_id !== roomId) {
        throw new MatrixError(400, "M_BAD_ALIAS", `${a} does not point to this room`);
      }
    }
  }
}
