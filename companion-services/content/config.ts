import { z } from "zod";

/**
 * The content service's settings: text limits, and its own listeners in distributed mode
 * (`nova serve content`). One part of the process's configuration (server/config.ts composes it).
 */
export const contentEnvSchema = z.object({
  /** The longest post text, in characters (UTF-16 code units, as JavaScript counts). */
  NOVA_CONTENT_MAX_POST_CHARS: z.coerce.number().int().positive().max(100_000).default(5_000),
  NOVA_CONTENT_MAX_COMMENT_CHARS: z.coerce.number().int().positive().max(100_000).default(2_000),
  /** `nova serve content`: its HTTP listener (`/_nova/v1/posts*`, `/_nova/v1/bookmarks*`). */
  CONTENT_HTTP_HOST: z.string().default("127.0.0.1"),
  CONTENT_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8013),
  CONTENT_GRPC_LISTEN: z.string().default("127.0.0.1:50056"),
  CONTENT_GRPC_ADDRESS: z.string().default("127.0.0.1:50056"),
});

export type ContentEnv = z.infer<typeof contentEnvSchema>;

export type ContentSettings = { maxPostChars: number; maxCommentChars: number };

export type ContentConfig = {
  content: ContentSettings & { httpHost: string; httpPort: number; grpcListen: string; grpcAddress: string };
};

export function contentConfig(e: ContentEnv): ContentConfig {
  return {
    content: {
      maxPostChars: e.NOVA_CONTENT_MAX_POST_CHARS,
      maxCommentChars: e.NOVA_CONTENT_MAX_COMMENT_CHARS,
      httpHost: e.CONTENT_HTTP_HOST,
      httpPort: e.CONTENT_HTTP_PORT,
      grpcListen: e.CONTENT_GRPC_LISTEN,
      grpcAddress: e.CONTENT_GRPC_ADDRESS,
    },
  };
}
