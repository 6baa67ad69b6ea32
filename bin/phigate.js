#!/usr/bin/env node
// Entry point of the `phigate` command: runs the compiled CLI. A missing or broken build is one line, not a
// stack trace.
import('../dist/src/cli/main.js').then(
  ({ main }) => main(process.argv).then((code) => { process.exitCode = code; }),
  (e) => {
    process.stderr.write(`phigate: cannot load the compiled CLI (${e && e.code ? e.code : 'error'}: ${String(e && e.message).split('\n')[0]}); run \`npm run build\` first\n`);
    process.exitCode = 1;
  },
);
