import type { CallOptions } from "../platform/rpc/client.ts";
import type {
  EmailValidationInput,
  EmailValidationStarted,
  Threepid,
  ThreepidClient,
  ValidatedThreepid,
} from "./client.ts";

type Call = <Res>(method: string, request: unknown, options: CallOptions) => Promise<Res>;
type WireValidated = { medium: string; address: string; validated_at?: number };
type WireThreepid = WireValidated & { added_at?: number };

/**
 * The 3PID calls of GrpcIdentityClient. Every one is sent once (no retries): even the lookups
 * sit on paths (requestToken, login) where a second try is the client's to make.
 */
export class GrpcThreepids implements ThreepidClient {
  constructor(
    private readonly call: Call,
    private readonly options: CallOptions,
  ) {}

  async requestEmailValidation(input: EmailValidationInput): Promise<EmailValidationStarted> {
    const r = await this.call<{ sid: string; address: string; token?: string }>(
      "RequestEmailValidation",
      {
        purpose: input.purpose,
        client_secret: input.clientSecret,
        email: input.email,
        send_attempt: input.sendAttempt,
        next_link: input.nextLink,
      },
      this.options,
    );
    return { sid: r.sid, address: r.address, token: r.token ?? null };
  }

  async submitEmailValidation(input: {
    sid: string;
    clientSecret: string;
    token: string;
  }): Promise<{ nextLink: string | null }> {
    const r = await this.call<{ next_link?: string }>(
      "SubmitEmailValidation",
      { sid: input.sid, client_secret: input.clientSecret, token: input.token },
      this.options,
    );
    return { nextLink: r.next_link ?? null };
  }

  async takeValidatedThreepid(input: {
    sid: string;
    clientSecret: string;
  }): Promise<ValidatedThreepid | null> {
    const r = await this.call<{ threepid?: WireValidated }>(
      "TakeValidatedThreepid",
      { sid: input.sid, client_secret: input.clientSecret },
      this.options,
    );
    const t = r.threepid;
    return t ? { medium: t.medium, address: t.address, validatedAt: t.validated_at ?? 0 } : null;
  }

  async addThreepid(userId: string, t: ValidatedThreepid): Promise<void> {
    await this.call(
      "AddThreepid",
      { user_id: userId, threepid: { medium: t.medium, address: t.address, validated_at: t.validatedAt } },
      this.options,
    );
  }

  async listThreepids(userId: string): Promise<Threepid[]> {
    const r = await this.call<{ threepids?: WireThreepid[] }>(
      "ListThreepids",
      { user_id: userId },
      this.options,
    );
    return (r.threepids ?? []).map((t) => ({
      medium: t.medium,
      address: t.address,
      validatedAt: t.validated_at ?? 0,
      addedAt: t.added_at ?? 0,
    }));
  }

  async deleteThreepid(userId: string, medium: string, address: string): Promise<boolean> {
    const r = await this.call<{ value?: boolean }>(
      "DeleteThreepid",
      { user_id: userId, medium, address },
      this.options,
    );
    return r.value ?? false;
  }

  async userIdByThreepid(medium: string, address: string): Promise<string | null> {
    const r = await this.call<{ user_id?: string }>("UserIdByThreepid", { medium, address }, this.options);
    return r.user_id ?? null;
  }
}
