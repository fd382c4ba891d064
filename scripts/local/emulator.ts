/** The local emulator: installing it (install.ts), running it (process.ts) and probing it (probe.ts). */
export * from './install';
export * from './probe';
export * from './process';
