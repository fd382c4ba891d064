// @ts-check
/**
 * Jest, as `cdk init` sets it up, with @swc/jest in place of ts-jest: it strips types without type-checking (tsc runs
 * once, before the suites, in `npm test`), which keeps a cold run of the unit suite a few seconds.
 *
 * Three projects, one per folder under test/: `npx jest --selectProjects unit`, or a path, runs a part.
 */
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

/** @param {string} name @returns {import('jest').Config} */
const project = (name) => ({
  displayName: name,
  testEnvironment: 'node',
  roots: [`<rootDir>/test/${name}`],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.tsx?$': swc },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFilesAfterEnv: ['<rootDir>/test/support/jest-setup.ts'],
});

/** @type {import('jest').Config} */
module.exports = {
  projects: [project('unit'), project('infra'), project('e2e')],
  testTimeout: 60_000,
  // Jest defaults to cores - 1, one worker on the 2-core machines this runs on; the suites wait on I/O as much as CPU.
  maxWorkers: 2,
};
