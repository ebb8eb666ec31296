// Tests must not fail because the machine is slow or busy (CI shares it): every test's work is
// bounded (property tests have a fixed seed and a small numRuns, printed with the path when one
// fails), and the timeout is a generous net for a stuck test, not a speed check. Tests that are
// slow by design set their own, larger timeout.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
