/**
 * `KEYWARD_REQUIRE_ALL_SUITES=1` (set by `.ci/run`): suites that need something outside npm
 * (Chromium, Python's jwt/jose) must run, so a missing tool fails instead of skipping.
 * A project variable rather than `CI=true`, which every hosted CI sets: a team adopting
 * Keyward without those tools still gets a green pipeline, with the skip printed.
 */
export const REQUIRE_ALL_SUITES = process.env.KEYWARD_REQUIRE_ALL_SUITES === '1';
