#!/usr/bin/env node
"use strict";
const { main } = require("../dist/src/cli/main.js");
// Exit explicitly: daemons stop cleanly on SIGTERM, and idle keep-alive connections must not keep them alive.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`understudy: ${err?.message ?? err}`);
    process.exit(3);
  },
);
