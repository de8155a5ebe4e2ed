import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A load balancer in miniature: routes each request by path prefix to one of several upstreams
 * (the first matching prefix wins; "" matches everything) or by a pattern on the path, as an
 * nginx `location ~` does. Streams bodies both ways.
 */
export async function pathProxy(
  routes: { prefix: string | RegExp; port: number }[],
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "";
    const route = routes.find((r) =>
      typeof r.prefix === "string" ? url.startsWith(r.prefix) : r.prefix.test(url.split("?")[0] ?? ""),
    );
    if (!route) {
      res.writeHead(502).end();
      return;
    }
    const upstream = request(
      { host: "127.0.0.1", port: route.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
