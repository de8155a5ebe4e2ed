import { z } from "zod";
import { type TusError, tusError } from "./errors.ts";

/** Longest `Upload-Metadata` header kept (it is echoed on every HEAD). */
export const MAX_METADATA_CHARS = 4096;

const MIME = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(?:\s*;[\x20-\x7e]*)?$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The tus metadata keys media reads: `filetype` (a malformed one is ignored and the type is
 * sniffed from the bytes, as `POST /upload` does without a Content-Type) and `filename` (at most
 * 255 characters, no control characters, or the creation is refused). Other keys are kept only
 * to be echoed on HEAD.
 */
const uploadMetadata = z.object({
  filetype: z
    .string()
    .trim()
    .max(255)
    .regex(MIME)
    .nullish()
    .catch(null)
    .transform((v) => v ?? null),
  filename: z
    .string()
    .max(255, "filename is longer than 255 characters")
    .refine((v) => !CONTROL.test(v), "filename has control characters")
    .nullish()
    .transform((v) => (v === undefined || v === null || v === "" ? null : v)),
});

export type UploadMetadata = { contentType: string | null; uploadName: string | null };

/** Reads `filetype`/`filename` from tus's parsed metadata; throws a 400 tus error on a bad name. */
export function parseUploadMetadata(metadata: Record<string, string | null> | undefined): UploadMetadata {
  const r = uploadMetadata.safeParse(metadata ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw tusError(
      400,
      "M_INVALID_PARAM",
      `Upload-Metadata: ${issue?.message ?? "invalid"}`,
    ) satisfies TusError;
  }
  return { contentType: r.data.filetype, uploadName: r.data.filename };
}
