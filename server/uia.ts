import { randomBytes } from "node:crypto";
import { z } from "zod";
import { MatrixError } from "../companion-services/platform/errors.ts";

/** The `auth` dict of a User-Interactive Auth request. */
export const uiaAuthSchema = z
  .object({
    type: z.string().optional(),
    session: z.string().optional(),
    token: z.string().optional(),
    password: z.string().optional(),
    identifier: z.object({ type: z.string(), user: z.string().optional() }).passthrough().optional(),
    user: z.string().optional(),
  })
  .passthrough();
export type UiaAuth = z.infer<typeof uiaAuthSchema>;

/** Verifies one stage; returns true when it is completed. */
export type StageHandler = (auth: UiaAuth) => Promise<boolean>;

type Session = { completed: Set<string>; createdAt: number; data: Record<string, unknown> };

const SESSION_TTL_MS = 30 * 60_000;

/**
 * User-Interactive Authentication (spec §5.5). Sessions live in memory for 30 minutes: a client that
 * loses its session starts over, which the spec allows.
 */
export class UserInteractiveAuth {
  private readonly sessions = new Map<string, Session>();

  /**
   * Runs UIA for a request: resolves when every stage of one flow is complete; otherwise throws the
   * 401 response the client needs to go on.
   */
  async require(
    auth: UiaAuth | undefined,
    flows: string[][],
    handlers: Record<string, StageHandler>,
    params: Record<string, unknown> = {},
  ): Promise<string> {
    this.prune();
    let sessionId = auth?.session;
    let session = sessionId ? this.sessions.get(sessionId) : undefined;
    if (!session) {
      sessionId = randomBytes(16).toString("base64url");
      session = { completed: new Set(), createdAt: Date.now(), data: {} };
      this.sessions.set(sessionId, session);
    }
    const sid = sessionId!;
    let stageError: MatrixError | undefined;
    if (auth?.type) {
      const handler = handlers[auth.type];
      if (!handler || !flows.some((f) => f.includes(auth.type!))) {
        stageError = new MatrixError(400, "M_UNRECOGNIZED", `Unknown auth type ${auth.type}`);
      } else {
        try {
          if (await handler(auth)) session.completed.add(auth.type);
          else stageError = new MatrixError(401, "M_FORBIDDEN", "Authentication failed");
        } catch (err) {
          if (err instanceof MatrixError && err.status === 429) throw err;
          stageError =
            err instanceof MatrixError ? err : new MatrixError(401, "M_FORBIDDEN", "Authentication failed");
        }
      }
    }
    if (flows.some((f) => f.every((s) => session!.completed.has(s)))) {
      this.sessions.delete(sid);
      return sid;
    }
    throw new MatrixError(
      401,
      stageError?.errcode ?? "M_FORBIDDEN",
      stageError?.message ?? "Additional authentication required",
      {
        flows: flows.map((stages) => ({ stages })),
        params,
        session: sid,
        completed: [...session.completed],
        ...(stageError ? {} : { errcode: undefined, error: undefined }),
      },
    );
  }

  private prune(): void {
    const cutoff = Date.now() - SESSION_TTL_MS;
    for (const [k, s] of this.sessions) if (s.createdAt < cutoff) this.sessions.delete(k);
  }
}
