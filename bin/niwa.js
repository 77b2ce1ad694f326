#!/usr/bin/env node
// Entry point: hands argv to the CLI. Kept tiny so start-up stays lean.
import { main, guardUnfinished } from '../dist/src/cli/main.js';
guardUnfinished();
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
