// The page's entry point, app.js: runs app.ts. app.ts is not the entry itself so that all of the 1:1 page lands in
// ONE file: esbuild puts a module imported by both entries (this one and groups/groups.ts, which imports app.ts too)
// into the chunk they share, so app.js is this import alone and the shared chunk is gzipped as one file rather than
// two (scripts/bundle.mjs). A module is evaluated once, so the group chats' import runs nothing again.
import "./app.js";
