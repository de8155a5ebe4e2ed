import type { IdentityClient } from "../../companion-services/identity/client.ts";
import { notFound } from "../../companion-services/platform/errors.ts";
import { serverNameOf } from "../ids.ts";
import type { RoomsApi } from "../rooms/service.ts";
import type { ReportsRepository } from "./reports.repository.ts";

/** What a reporter may report (spec "Reporting content"); each report is kept for server admins. */
export class ReportsService {
  constructor(
    private readonly repo: ReportsRepository,
    private readonly rooms: Pick<RoomsApi, "reads" | "snapshot">,
    private readonly identity: Pick<IdentityClient, "getUser">,
    private readonly serverName: string,
  ) {}

  /** An event the reporter can see; otherwise 404, whether it is missing or hidden (as Synapse). */
  async reportEvent(
    reporter: string,
    roomId: string,
    eventId: string,
    body: { reason?: string; score?: number },
  ): Promise<void> {
    try {
      await this.rooms.reads.timeline.visibleEvent(reporter, roomId, eventId);
    } catch {
      throw notFound("Unable to report event: it does not exist or you aren't able to see it.");
    }
    await this.repo.insert({ kind: "event", reporter, roomId, eventId, ...body }, Date.now());
  }

  /** A room this server knows (spec v1.13; membership is not required, as Synapse). */
  async reportRoom(reporter: string, roomId: string, reason: string): Promise<void> {
    if (!(await this.rooms.snapshot(roomId))) throw notFound("Room does not exist.");
    await this.repo.insert({ kind: "room", reporter, roomId, reason }, Date.now());
  }

  /** A user (spec v1.14): an unknown local user is 404; a remote one cannot be checked here. */
  async reportUser(reporter: string, targetUserId: string, reason: string): Promise<void> {
    if (serverNameOf(targetUserId) === this.serverName && !(await this.identity.getUser(targetUserId)))
      throw notFound("User does not exist.");
    await this.repo.insert({ kind: "user", reporter, targetUserId, reason }, Date.now());
  }
}
