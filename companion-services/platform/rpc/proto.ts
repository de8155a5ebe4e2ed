import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * Loads a .proto contract (each service keeps its own beside its code: `<service>/<service>.proto`). Field names stay snake_case,
 * int64 become numbers (ids and times stay far below 2^53), and absent fields stay absent
 * (defaults: false) so a missing required field is detected, not read as "" or 0.
 */
export function loadService(file: string, qualifiedName: string): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(file, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  let node: unknown = pkg;
  for (const part of qualifiedName.split(".")) node = (node as Record<string, unknown>)[part];
  if (typeof node !== "function") throw new Error(`service ${qualifiedName} not found in ${file}`);
  return node as grpc.ServiceClientConstructor;
}
