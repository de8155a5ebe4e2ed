import type { Kysely } from "kysely";

export type CallTables = {
  call_sessions: {
    call_id: string;
    room_id: string;
    sfu: string;
    created_by: string;
    created_at: number;
    ended_at: number | null;
  };
  call_participants: {
    call_id: string;
    user_id: string;
    device_id: string;
    joined_at: number;
    left_at: number | null;
    leave_reason: string | null;
  };
};

export type CallParticipantRow = CallTables["call_participants"];

/** Call history: sessions and who was in them (plain transactions; nothing here feeds /sync). */
export class CallsRepository {
  constructor(private readonly db: Kysely<CallTables>) {}

  async startSession(s: {
    callId: string;
    roomId: string;
    sfu: string;
    createdBy: string;
    at: number;
  }): Promise<void> {
    await this.db
      .insertInto("call_sessions")
      .values({
        call_id: s.callId,
        room_id: s.roomId,
        sfu: s.sfu,
        created_by: s.createdBy,
        created_at: s.at,
        ended_at: null,
      })
      .execute();
  }

  async endSession(callId: string, at: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("call_participants")
        .set({ left_at: at, leave_reason: "call_ended" })
        .where("call_id", "=", callId)
        .where("left_at", "is", null)
        .execute();
      await trx.updateTable("call_sessions").set({ ended_at: at }).where("call_id", "=", callId).execute();
    });
  }

  async addParticipant(p: { callId: string; userId: string; deviceId: string; at: number }): Promise<void> {
    await this.db
      .insertInto("call_participants")
      .values({
        call_id: p.callId,
        user_id: p.userId,
        device_id: p.deviceId,
        joined_at: p.at,
        left_at: null,
        leave_reason: null,
      })
      .execute();
  }

  async removeParticipant(p: {
    callId: string;
    userId: string;
    deviceId: string;
    at: number;
    reason: string;
  }): Promise<void> {
    await this.db
      .updateTable("call_participants")
      .set({ left_at: p.at, leave_reason: p.reason })
      .where("call_id", "=", p.callId)
      .where("user_id", "=", p.userId)
      .where("device_id", "=", p.deviceId)
      .where("left_at", "is", null)
      .execute();
  }

  /**
   * Sessions a previous process left open: their media state died with it. Returns them (with
   * their open participants) after closing them, so their room state can be cleaned up.
   */
  async closeOrphans(
    at: number,
  ): Promise<{ callId: string; roomId: string; participants: CallParticipantRow[] }[]> {
    return this.db.transaction().execute(async (trx) => {
      const open = await trx
        .selectFrom("call_sessions")
        .select(["call_id", "room_id"])
        .where("ended_at", "is", null)
        .execute();
      const out: { callId: string; roomId: string; participants: CallParticipantRow[] }[] = [];
      for (const s of open) {
        const participants = await trx
          .selectFrom("call_participants")
          .selectAll()
          .where("call_id", "=", s.call_id)
          .where("left_at", "is", null)
          .execute();
        out.push({ callId: s.call_id, roomId: s.room_id, participants });
      }
      if (open.length > 0) {
        const ids = open.map((s) => s.call_id);
        await trx
          .updateTable("call_participants")
          .set({ left_at: at, leave_reason: "server_restart" })
          .where("call_id", "in", ids)
          .where("left_at", "is", null)
          .execute();
        await trx.updateTable("call_sessions").set({ ended_at: at }).where("call_id", "in", ids).execute();
      }
      return out;
    });
  }

  async session(callId: string): Promise<CallTables["call_sessions"] | undefined> {
    return this.db.selectFrom("call_sessions").selectAll().where("call_id", "=", callId).executeTakeFirst();
  }

  async participants(callId: string): Promise<CallParticipantRow[]> {
    return this.db
      .selectFrom("call_participants")
      .selectAll()
      .where("call_id", "=", callId)
      .orderBy("joined_at")
      .execute();
  }
}
