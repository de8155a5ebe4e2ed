import { forbidden, invalidParam, notFound } from "../../../companion-services/platform/errors.ts";
import { type SendOptions, type TxnKey, txnOf } from "../caches/txn-ids.ts";
import { normalizeRow } from "../client-events.ts";
import type { RoomsCore } from "../core.ts";
import { membershipIn } from "../events.ts";
import { userLevel } from "../power-levels.ts";
import type { RoomWriter } from "./persist.ts";

/** PUT /redact: the redaction event and the stored event's redaction commit together. */
export class Redactor {
  constructor(
    private readonly core: RoomsCore,
    private readonly writer: RoomWriter,
  ) {}

  async redact(
    sender: string,
    roomId: string,
    eventId: string,
    content: Record<string, unknown>,
    opts: SendOptions = {},
  ): Promise<string> {
    const txn = txnOf(sender, `redact/${roomId}/${eventId}`, opts);
    return this.core.txnIds.once(txn, () => this.write(sender, roomId, eventId, content, txn));
  }

  private async write(
    sender: string,
    roomId: string,
    eventId: string,
    content: Record<string, unknown>,
    txn: TxnKey | undefined,
  ): Promise<string> {
    const target = await this.core.repo.events.getEvent(eventId);
    const r = await this.writer.persist(
      roomId,
      (snap) => {
        if (membershipIn(snap, sender) !== "join") throw forbidden("You are not joined to this room.");
        if (!target) throw notFound("Event not found.");
        // As Synapse: naming an event of another room is the client's mistake, not a missing event.
        if (target.room_id !== roomId) throw invalidParam("Cannot redact an event of another room.");
        const pl = snap.powerLevels();
        if (target.sender !== sender && userLevel(pl, sender) < pl.redact) {
          throw forbidden("You do not have permission to redact this event.");
        }
        const c: Record<string, unknown> = { ...content };
        if (snap.rules.redactsInContent) c.redacts = eventId;
        else delete c.redacts;
        return {
          drafts: [{ type: "m.room.redaction", content: c, sender, redacts: eventId }],
          redactTarget: normalizeRow(target),
        };
      },
      { txn },
    );
    return r.eventIds[0]!;
  }
}
