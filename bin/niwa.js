#!/usr/bin/env node
// Entry point: hands argv to the CLI. Kept tiny so start-up stays lean.
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
