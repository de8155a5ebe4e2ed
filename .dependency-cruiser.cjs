/**
 * The layer rules of docs/architecture.md, checked by `npm run lint` (dependency-cruiser).
 * Production code only: tests and benchmarks may reach anywhere to set things up.
 */
const HOMESERVER = "^(server|sync|crypto|calls)/";
const STORAGE = ["^companion-services/.+[.]repository[.]ts$", "^companion-services/.+/tables[.]ts$"];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "platform-is-the-ground-floor",
      comment: "companion-services/platform imports no service and nothing of the homeserver.",
      severity: "error",
      from: { path: "^companion-services/platform/" },
      to: {
        path: ["^(server|sync|crypto|calls|bench|test|migrations)/", "^companion-services/(?!platform/)"],
      },
    },
    {
      name: "no-foreign-storage-from-a-service",
      comment: "A service reaches another only through its client.ts, never its repositories or tables.",
      severity: "error",
      from: { path: "^companion-services/([^/]+)/", pathNot: "^companion-services/platform/" },
      to: { path: STORAGE, pathNot: ["^companion-services/$1/", "^companion-services/platform/"] },
    },
    {
      name: "no-service-storage-from-the-homeserver",
      comment: "The homeserver (messaging) calls companion services through their client interfaces.",
      severity: "error",
      from: { path: HOMESERVER },
      to: { path: STORAGE, pathNot: "^companion-services/platform/" },
    },
    {
      name: "wiring-is-the-top",
      comment: "Only the process entry points build the whole; nothing below them imports them.",
      severity: "error",
      from: {
        path: "^(server|sync|crypto|calls|companion-services)/",
        pathNot: "^server/(main|cli|serve|app)\\.ts$",
      },
      to: { path: "^server/(main|cli|serve|app)\\.ts$" },
    },
    {
      name: "sync-does-not-import-client",
      comment:
        "sync/ owns its filters and reaches presence through sync/presence-port.ts; server/client may import sync, never the reverse.",
      severity: "error",
      from: { path: "^sync/" },
      to: { path: "^server/client/" },
    },
    {
      name: "no-circular",
      comment: "Modules form layers; a cycle means two of them are one, or one holds the other's part.",
      severity: "error",
      from: { pathNot: "^(test|bench)/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|data|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
