import { OpenAPIRegistry, OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import { type ZodObject, type ZodType, z } from "zod";
import { fromZod } from "../errors.ts";
import type { HttpMethod, Request, RouteOptions, Router } from "./router.ts";

type Method = Exclude<HttpMethod, "HEAD">;

/**
 * One REST route of Nova's own API (`/_nova/v1`), as data: its schemas validate the request at
 * the edge and are what `/_nova/v1/openapi.json` publishes, so the document cannot drift from
 * what the server checks. Definitions hold no handler, so any process can publish every
 * service's routes without running them.
 */
export type ApiRoute<
  P extends ZodObject = ZodObject,
  Q extends ZodObject = ZodObject,
  B extends ZodType = ZodType,
  R extends ZodType = ZodType,
> = {
  method: Method;
  /** The router's pattern: `:name` captures a segment. */
  path: string;
  summary: string;
  /** The service the route belongs to (the document's tag). */
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  response: R;
  /** The success status; 200 unless said. */
  status?: number;
  auth?: RouteOptions["auth"];
  maxBody?: number;
};

export type ApiInput<P extends ZodObject, Q extends ZodObject, B extends ZodType> = {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  req: Request;
};

const EMPTY = z.object({});

/** Keeps the literal types of a definition (the handler's input and output follow from them). */
export function defineRoute<P extends ZodObject, Q extends ZodObject, B extends ZodType, R extends ZodType>(
  def: ApiRoute<P, Q, B, R>,
): ApiRoute<P, Q, B, R> {
  return def;
}

/**
 * Registers a definition's handler on a router: path parameters, query and body are parsed with
 * the definition's schemas (400 M_INVALID_PARAM for parameters, M_BAD_JSON / M_NOT_JSON for the
 * body) before the handler runs.
 */
export function mountRoute<P extends ZodObject, Q extends ZodObject, B extends ZodType, R extends ZodType>(
  router: Router,
  def: ApiRoute<P, Q, B, R>,
  handler: (input: ApiInput<P, Q, B>) => Promise<z.input<R>>,
): void {
  router.add(
    def.method,
    def.path,
    async (req) => {
      const params = parse(def.params ?? EMPTY, req.params) as z.output<P>;
      const query = parse(def.query ?? EMPTY, queryObject(req.query)) as z.output<Q>;
      const body = (def.body ? req.json(def.body) : undefined) as z.output<B>;
      const out = await handler({ params, query, body, req });
      return { status: def.status ?? 200, body: out };
    },
    { auth: def.auth ?? "required", ...(def.maxBody !== undefined ? { maxBody: def.maxBody } : {}) },
  );
}

function parse<T extends ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw fromZod(r.error, "M_INVALID_PARAM");
  return r.data;
}

/** A repeated key keeps its last value (no route of Nova's takes lists in the query). */
function queryObject(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of q) out[k] = v;
  return out;
}

const ERROR = z.object({ errcode: z.string(), error: z.string() });

/** The OpenAPI 3.1 document of a set of routes. */
export function openApiDocument(routes: readonly ApiRoute[], info: { title: string; version: string }) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "accessToken", { type: "http", scheme: "bearer" });
  for (const r of routes) {
    registry.registerPath({
      method: r.method.toLowerCase() as Lowercase<Method>,
      path: r.path.replace(/:([A-Za-z_]+)/g, "{$1}"),
      summary: r.summary,
      tags: [r.tag],
      ...((r.auth ?? "required") === "none" ? {} : { security: [{ accessToken: [] }] }),
      request: {
        ...(r.params ? { params: r.params } : {}),
        ...(r.query ? { query: r.query } : {}),
        ...(r.body ? { body: { content: { "application/json": { schema: r.body } } } } : {}),
      },
      responses: {
        [r.status ?? 200]: {
          description: "Success",
          content: { "application/json": { schema: r.response } },
        },
        400: {
          description: "Bad request (Matrix error)",
          content: { "application/json": { schema: ERROR } },
        },
      },
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({ openapi: "3.1.0", info });
}

/** Text a client sends: no NUL (PostgreSQL refuses it in text), at most `max` characters. */
export const safeText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes("\u0000"), "must not contain NUL");

/** A Matrix user id (`@local:server`), as a path parameter or a field. */
export const userIdSchema = z
  .string()
  .max(255)
  .regex(/^@[^:\s]+:\S+$/, "must be a Matrix user id (@user:server)")
  .refine((s) => !s.includes("\u0000"), "must not contain NUL");

/** `from` (an opaque cursor from a previous page's `next`) and `limit`, the pagination of /_nova/v1. */
export const pageQuery = (defaultLimit = 20, maxLimit = 100) =>
  z.object({
    from: safeText(512).optional(),
    limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit),
  });

/** A page of items and the cursor of the next page (absent on the last). */
export const pageOf = <T extends ZodType>(key: string, item: T) =>
  z.object({ [key]: z.array(item), next: z.string().optional() });
