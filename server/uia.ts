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

/**
 * Verifies one stage; true (or what the stage established, e.g. the validated email of
 * m.login.email.identity, kept with the session for the completing request) when it is completed.
 */
export type StageHandler = (auth: UiaAuth) => Promise<boolean | Record<string, unknown>>;

type Session = {
  completed: Set<string>;
  createdAt: number;
  /** What each completed stage established (a handler's object result), by stage type. */
  data: Record<string, Record<string, unknown>>;
  /** What the session authorises (method and path), fixed by its first request. */
  operation?: string;
  /** The last request body (without `auth`) that had parameters: later stages may leave them out. */
  clientDict?: Record<string, unknown>;
  /** Every stage of a flow is done, and the session was kept (`UiaRequest.keepCompleted`). */
  done?: boolean;
};

/** What a UIA session is bound to (Synapse: the URI, the method, the first request's body). */
export type UiaRequest = {
  /** e.g. `DELETE /_matrix/client/v3/devices/ABC`; a later stage of another operation is 403. */
  operation?: string;
  /**
   * The request body without `auth`. As Synapse: a body with parameters replaces the session's,
   * an empty one (just `auth`) reuses it; the session's is handed back on completion.
   */
  clientDict?: Record<string, unknown>;
  /**
   * Keep the session once complete (until it expires), so that repeating the request with it
   * completes again: registration is idempotent this way, as Synapse makes it.
   */
  keepCompleted?: boolean;
};

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
    request: UiaRequest = {},
  ): Promise<string> {
    return (await this.run(auth, flows, handlers, params, request)).session;
  }

  /**
   * As `require`, and hands back the session's request body (see `UiaRequest.clientDict`), so a
   * later stage that leaves the parameters out still gets them.
   */
  async run(
    auth: UiaAuth | undefined,
    flows: string[][],
    handlers: Record<string, StageHandler>,
    params: Record<string, unknown> = {},
    request: UiaRequest = {},
  ): Promise<{
    session: string;
    clientDict: Record<string, unknown>;
    results: Record<string, Record<string, unknown>>;
  }> {
    this.prune();
    let sessionId = auth?.session;
    let session = sessionId ? this.sessions.get(sessionId) : undefined;
    if (!session) {
      sessionId = randomBytes(16).toString("base64url");
      session = {
        completed: new Set(),
        createdAt: Date.now(),
        data: {},
        operation: request.operation,
        clientDict: request.clientDict,
      };
      this.sessions.set(sessionId, session);
    } else if (
      request.operation !== undefined &&
      session.operation !== undefined &&
      request.operation !== session.operation
    ) {
      throw new MatrixError(
        403,
        "M_FORBIDDEN",
        "Requested operation has changed during the UI authentication session.",
      );
    } else if (
      !session.done &&
      request.clientDict !== undefined &&
      Object.keys(request.clientDict).length > 0
    ) {
      session.clientDict = request.clientDict;
    }
    const sid = sessionId!;
    let stageError: MatrixError | undefined;
    if (auth?.type) {
      const handler = handlers[auth.type];
      if (!handler || !flows.some((f) => f.includes(auth.type!))) {
        stageError = new MatrixError(400, "M_UNRECOGNIZED", `Unknown auth type ${auth.type}`);
      } else {
        try {
          const result = await handler(auth);
          if (result) {
            session.completed.add(auth.type);
            if (typeof result === "object") session.data[auth.type] = result;
          } else stageError = new MatrixError(401, "M_FORBIDDEN", "Authentication failed");
        } catch (err) {
          // Rate limits, and a stage that authenticated someone else (403), end the request.
          if (err instanceof MatrixError && (err.status === 429 || err.status === 403)) throw err;
          stageError =
            err instanceof MatrixError ? err : new MatrixError(401, "M_FORBIDDEN", "Authentication failed");
        }
      }
    }
    if (session.done || flows.some((f) => f.every((s) => session!.completed.has(s)))) {
      if (request.keepCompleted) session.done = true;
      else this.sessions.delete(sid);
      return {
        session: sid,
        clientDict: session.clientDict ?? request.clientDict ?? {},
        results: session.data,
      };
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

  /** What `remember` recorded for a session, if it still lives. */
  recalled(sessionId: string | undefined, key: string): Record<string, unknown> | undefined {
    return sessionId === undefined ? undefined : this.sessions.get(sessionId)?.data[key];
  }

  /** Records what the completed operation produced (e.g. the registered user), for its repeats. */
  remember(sessionId: string, key: string, value: Record<string, unknown>): void {
    const session = this.sessions.get(sessionId);
    if (session) session.data[key] = value;
  }

  private prune(): void {
    const cutoff = Date.now() - SESSION_TTL_MS;
    for (const [k, s] of this.sessions) if (s.createdAt < cutoff) this.sessions.delete(k);
  }
}
