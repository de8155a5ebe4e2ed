// What the server is built from: `npm run build` (scripts/build.mjs, tsc → dist/) and `npm start`
// (scripts/start.mjs, esbuild → .nova-build/) read the same list.
export const SOURCES = ["server", "sync", "crypto", "calls", "companion-services", "migrations"];
// Read at run time relative to import.meta.url (the gRPC .proto files…); Markdown stays out.
export const ASSET = /\.(proto|json|sql)$/;
