import type { Touch } from "../../../sync/changes.ts";
import type { TxnKey } from "../caches/txn-ids.ts";
import type { Pdu } from "../events.ts";
import type { EventRow, EventWrite } from "../storage/rows.ts";

/** What a room write touched: the room, and the targets of membership events. */
export function roomTouch(roomId: string, events: readonly { pdu: Pdu }[]): Touch {
  const userIds: string[] = [];
  for (const e of events) {
    if (e.pdu.type === "m.room.member" && e.pdu.state_key) userIds.push(e.pdu.state_key);
  }
  return { roomIds: [roomId], userIds, kinds: ["room"] };
}

export function eventWrite(
  eventId: string,
  pdu: Pdu,
  text: string,
  prevState: string | null,
  position: number,
  txn: TxnKey | undefined,
): EventWrite {
  const rel = pdu.content["m.relates_to"] as
    | { rel_type?: unknown; event_id?: unknown; key?: unknown }
    | undefined;
  const relType = rel && typeof rel === "object" ? rel.rel_type : undefined;
  const relTo = rel && typeof rel === "object" && typeof rel.event_id === "string" ? rel.event_id : null;
  const membership =
    pdu.type === "m.room.member" && typeof pdu.content.membership === "string"
      ? pdu.content.membership
      : null;
  return {
    eventId,
    roomId: pdu.room_id,
    position,
    depth: pdu.depth,
    type: pdu.type,
    stateKey: pdu.state_key ?? null,
    sender: pdu.sender,
    ts: pdu.origin_server_ts,
    membership,
    pdu: text,
    prevState,
    txnDeviceId: txn ? txn.deviceId : null,
    txnId: txn ? txn.txnId : null,
    reaction:
      relType === "m.annotation" && relTo && typeof rel?.key === "string"
        ? { relatesTo: relTo, key: rel.key }
        : null,
    edit: relType === "m.replace" && relTo ? { relatesTo: relTo } : null,
    relation:
      typeof relType === "string" && relTo
        ? { relatesTo: relTo, relType, key: typeof rel?.key === "string" ? rel.key : null }
        : null,
    attachments: mxcUrls(pdu.content),
  };
}

export function writeAsRow(w: EventWrite): EventRow {
  return {
    event_id: w.eventId,
    room_id: w.roomId,
    stream_position: w.position,
    type: w.type,
    state_key: w.stateKey,
    sender: w.sender,
    membership: w.membership,
    pdu: w.pdu,
    prev_state: w.prevState,
    txn_device_id: w.txnDeviceId,
    txn_id: w.txnId,
    redacted_because: null,
  };
}

/** mxc:// URIs an event references (m.room.message media, thumbnails, avatars, encrypted files). */
function mxcUrls(content: Record<string, unknown>): string[] {
  const out: string[] = [];
  const take = (v: unknown) => {
    if (typeof v === "string" && v.startsWith("mxc://") && v.length <= 512) out.push(v);
  };
  const obj = (v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  take(content.url);
  take(content.avatar_url);
  take(obj(content.file)?.url);
  const info = obj(content.info);
  take(info?.thumbnail_url);
  take(obj(info?.thumbnail_file)?.url);
  return out;
}
