// The CLI run from the TypeScript sources (through tsx), for tests that must not depend on a
// fresh dist/ build: node --import tsx test/cli-src.ts VERB ARGS...
import { main } from '../src/cli/main.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
