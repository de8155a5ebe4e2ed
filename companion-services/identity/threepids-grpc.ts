import type * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import { present } from "../platform/rpc/wire.ts";
import type { IdentityClient } from "./client.ts";

// The 3PID calls of identity.proto, served beside the others by grpc.ts.

const userId = z.string().startsWith("@").max(255);
const short = z.string().min(1).max(255);
const address = z.string().min(1).max(1024);
const ms = z.number().int().nonnegative();
const validated = z.object({ medium: short, address, validated_at: ms });

const schemas = {
  RequestEmailValidation: z.object({
    purpose: z.enum(["register", "add", "reset"]),
    client_secret: short,
    email: address,
    send_attempt: ms,
    next_link: z.string().max(2048).optional(),
  }),
  SubmitEmailValidation: z.object({ sid: short, client_secret: short, token: short }),
  ThreepidCreds: z.object({ sid: short, client_secret: short }),
  AddThreepid: z.object({ user_id: userId, threepid: validated }),
  ListThreepids: z.object({ user_id: userId }),
  ThreepidOfUser: z.object({ user_id: userId, medium: short, address }),
  ThreepidAddress: z.object({ medium: short, address }),
};

type Unary = <Req, Res>(
  method: string,
  schema: z.ZodType<Req>,
  fn: (req: Req) => Promise<Res>,
) => grpc.handleUnaryCall<unknown, Res>;

/** The 3PID handlers of identity's gRPC service, over any IdentityClient. */
export function threepidHandlers(identity: IdentityClient, u: Unary) {
  return {
    RequestEmailValidation: u("RequestEmailValidation", schemas.RequestEmailValidation, async (r) => {
      const started = await identity.threepids.requestEmailValidation({
        purpose: r.purpose,
        clientSecret: r.client_secret,
        email: r.email,
        sendAttempt: r.send_attempt,
        nextLink: r.next_link,
      });
      return present({ sid: started.sid, address: started.address, token: started.token });
    }),
    SubmitEmailValidation: u("SubmitEmailValidation", schemas.SubmitEmailValidation, async (r) => {
      const res = await identity.threepids.submitEmailValidation({
        sid: r.sid,
        clientSecret: r.client_secret,
        token: r.token,
      });
      return present({ next_link: res.nextLink });
    }),
    TakeValidatedThreepid: u("TakeValidatedThreepid", schemas.ThreepidCreds, async (r) => {
      const t = await identity.threepids.takeValidatedThreepid({ sid: r.sid, clientSecret: r.client_secret });
      return t ? { threepid: { medium: t.medium, address: t.address, validated_at: t.validatedAt } } : {};
    }),
    AddThreepid: u("AddThreepid", schemas.AddThreepid, async (r) => {
      const t = r.threepid;
      await identity.threepids.addThreepid(r.user_id, {
        medium: t.medium,
        address: t.address,
        validatedAt: t.validated_at,
      });
      return {};
    }),
    ListThreepids: u("ListThreepids", schemas.ListThreepids, async (r) => ({
      threepids: (await identity.threepids.listThreepids(r.user_id)).map((t) => ({
        medium: t.medium,
        address: t.address,
        validated_at: t.validatedAt,
        added_at: t.addedAt,
      })),
    })),
    DeleteThreepid: u("DeleteThreepid", schemas.ThreepidOfUser, async (r) => ({
      value: await identity.threepids.deleteThreepid(r.user_id, r.medium, r.address),
    })),
    UserIdByThreepid: u("UserIdByThreepid", schemas.ThreepidAddress, async (r) =>
      present({ user_id: await identity.threepids.userIdByThreepid(r.medium, r.address) }),
    ),
  };
}
