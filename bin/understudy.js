#!/usr/bin/env node
"use strict";
// The follower applies to up to 32 databases at once and each apply ends in fsyncs, which run on libuv's thread
// pool: its default 4 threads would queue them behind each other. It must be set before anything uses the
// pool, so here, first.
process.env.UV_THREADPOOL_SIZE ??= "32";
const { main } = require("../dist/src/cli/main.js");
// Exit explicitly: daemons stop cleanly on SIGTERM, and idle keep-alive connections must not keep them alive.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`understudy: ${err?.message ?? err}`);
    process.exit(3);
  },
);
