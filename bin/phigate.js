#!/usr/bin/env node
// Entry point of the `phigate` command: runs the compiled CLI.
import { main } from '../dist/src/cli/main.js';
main(process.argv).then((code) => { process.exitCode = code; });
