// Owns failure injection for the fault tests (and nothing else): NIWA_TEST_FAIL_STEP=N makes step N
// of a start fail with EIO instead of running, wherever it runs — a prepare step in host-steps.ts,
// a stage, parent or child step in native/stage.c (the variable is passed to the stage) — so a
// test can check that a start failing at any step is rolled back completely. Cleanup steps never
// fail so. `N:kill` at a parent step: the stage SIGKILLs the child first (as the OOM killer would
// during setup), then runs the step. Not for users: docs/lifecycle.md lists it under the variables for tests.
export function injectedFailStep(): number | undefined {
  const v = process.env.NIWA_TEST_FAIL_STEP;
  return v && /^\d+(:kill)?$/.test(v) ? parseInt(v, 10) : undefined;
}

/** The variable as the stage gets it (undefined when not set). */
export const injectedStageEnv = (): Record<string, string> => (injectedFailStep() !== undefined ? { NIWA_TEST_FAIL_STEP: process.env.NIWA_TEST_FAIL_STEP! } : {});
