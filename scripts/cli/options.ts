import { InvalidArgumentError, type Command } from 'commander';
import type { AwsTarget } from '../lib/aws-target';
import { LOCAL_OUTPUTS_FILE } from '../local/local-stack';
import { endpointFromEnv } from '../local/probe';

/** The emulator endpoint: AWS_ENDPOINT_URL when set, else the LocalStack-compatible default. */
export const DEFAULT_ENDPOINT = endpointFromEnv();

/** A commander parser of a positive integer option. */
export function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** A commander parser of an ISO-8601 time option, to epoch ms. */
export function isoTime(v: string): number {
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('expected an ISO-8601 time, e.g. 2024-05-01T12:00:00Z');
  return ms;
}

/** A commander parser of a repeatable `field=value` option. */
export function keyPair(v: string, acc: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('expected field=value');
  return { ...acc, [v.slice(0, i)]: v.slice(i + 1) };
}

/**
 * Where a command's AWS calls go. Without --outputs the tools talk to the local emulator (its deployment's outputs
 * are in .local/outputs.json); with --outputs they use the default AWS credential chain, unless AWS_ENDPOINT_URL
 * points at an emulator.
 */
export function target(opts: { outputs?: string; endpoint?: string }): { file: string; aws: AwsTarget } {
  if (opts.outputs) return { file: opts.outputs, aws: { endpoint: process.env.AWS_ENDPOINT_URL } };
  return { file: LOCAL_OUTPUTS_FILE, aws: { endpoint: opts.endpoint ?? DEFAULT_ENDPOINT } };
}

// Commander hands each action its parsed options untyped; each command names what its options declare.
/** Where a command reads the stack outputs from. */
export interface TargetOptions {
  readonly outputs?: string;
  readonly endpoint?: string;
}

/** Adds the options every deployed-stack command takes: which deployment (--outputs) and which emulator (--endpoint). */
export function withTarget(command: Command): Command {
  return command
    .option('--outputs <file>', 'stack outputs file of a deployment (default: the local one)')
    .option('--endpoint <url>', 'emulator endpoint (local target)');
}
