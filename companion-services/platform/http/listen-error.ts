import net from "node:net";

/**
 * A listener could not bind because the address is taken: start stops with this one line
 * (`address in use: host:port`) and exit code 2, no stack (exitOnListenError).
 */
export class AddressInUseError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(`address in use: ${host}:${port}`);
    this.name = "AddressInUseError";
  }
}

/** Exit code of a start refused for a busy address (2, as for configuration errors). */
export const LISTEN_ERROR_EXIT_CODE = 2;

/**
 * Why a bind failed. uWS only answers `false`, so the same bind is tried once with node's net,
 * which says why (EADDRINUSE, EACCES, EADDRNOTAVAIL…); an address in use becomes
 * AddressInUseError, anything else an Error naming the cause.
 */
export async function listenFailure(host: string, port: number): Promise<Error> {
  const code = await new Promise<string | null>((resolve) => {
    const probe = net.createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(null)));
  });
  if (code === "EADDRINUSE") return new AddressInUseError(host, port);
  return new Error(`cannot listen on ${host}:${port}${code ? ` (${code})` : ""}`);
}

/** gRPC's bind error, as AddressInUseError when that is what it says. */
export function grpcListenFailure(err: Error, address: string): Error {
  if (!/EADDRINUSE/.test(err.message)) return err;
  const i = address.lastIndexOf(":");
  return new AddressInUseError(address.slice(0, i), Number(address.slice(i + 1)));
}

/**
 * For entry points (server/main.ts, `nova serve`): an address in use is printed as its one line
 * and the process exits with code 2; any other error is rethrown.
 */
export function exitOnListenError(err: unknown): never {
  if (!(err instanceof AddressInUseError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(LISTEN_ERROR_EXIT_CODE);
}
