// The start order and conditions of a compose project live with the engine that runs the plan
// (src/runtime/project/orchestrate.ts, run inside the project's supervisor); re-exported here for
// the compose code and tests that import them from compose.
export * from '../runtime/project/orchestrate.js';
