import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';
import { LAZY_ADAPTERS_FILE } from '../../lambda/contract/bundle-layout';
import { ENV, type UpdateBatching } from '../../lambda/contract/env';
import { LANE_BUCKETS, PENDING_KEY_SPREAD } from '../../lambda/contract/window-table-layout';

/**
 * Packages the functions' bundles replace with the project's own module (esbuild `alias`; absolute paths, so that a
 * construct given another `projectRoot` still finds them). `@aws-sdk/credential-provider-node`: every SDK client
 * imports its default chain, whose SSO, config-file, process and web-identity links cannot apply in Lambda and brought
 * ~130 KiB and the wrapping of every shared SDK module into the cold start; see lambda/adapters/lambda-credentials.ts.
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': path.resolve(__dirname, '..', '..', 'lambda', 'adapters', 'lambda-credentials.ts'),
};

/**
 * How the pipeline's functions are built: esbuild, minified, with source maps and the AWS SDK bundled. Bundling the
 * SDK pins its version, cuts init time, and is what makes the emulator run the real SDK instead of its stubs (see
 * shared/notes/emulators.md).
 */
export const PIPELINE_BUNDLING = {
  minify: true,
  sourceMap: true,
  bundleAwsSDK: true,
  // The lowest Node.js the code must run on, so the bundle is also valid on newer runtimes.
  target: 'node22',
  format: nodejs.OutputFormat.CJS,
  // The ES module builds first: the AWS SDK's `module` builds let esbuild drop the commands and helpers the handler
  // does not use, which the CommonJS builds (`main`) do not. This took the bundle from 992 KiB to 713 KiB.
  mainFields: ['module', 'main'],
  esbuildArgs: { '--alias': Object.entries(BUNDLE_ALIASES).map(([from, to]) => `${from}=${to}`) },
} as const satisfies nodejs.BundlingOptions;

/**
 * esbuild's build options for a file built beside a function's bundle: what {@link PIPELINE_BUNDLING} has
 * NodejsFunction pass to esbuild (aws-lambda-nodejs/lib/bundling.ts), so that both files are built alike.
 */
export function esbuildOptionsOf(bundling: typeof PIPELINE_BUNDLING): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    target: bundling.target,
    format: bundling.format,
    minify: bundling.minify,
    sourcemap: bundling.sourceMap,
    mainFields: [...bundling.mainFields],
    alias: { ...BUNDLE_ALIASES },
    logLevel: 'warning',
  };
}

/**
 * Command hooks that build `entry` (the aggregator's lazily loaded adapters) into {@link LAZY_ADAPTERS_FILE} beside
 * the function's bundle, which the handler loads on first use. Why a second file: the cold start compiles all of the
 * bundle, whether it runs or not; the S3 and Kinesis clients of the rare paths were ~210 KB of the 736 KB (P4).
 */
export function lazyAdaptersHooks(entry: string): nodejs.ICommandHooks {
  // esbuild's JS API, run with this Node.js (its `bin/esbuild` is a native binary on some installs, a script on others).
  const esbuild = require.resolve('esbuild');
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) => {
      const options = { ...esbuildOptionsOf(PIPELINE_BUNDLING), entryPoints: [entry], outfile: path.join(outputDir, LAZY_ADAPTERS_FILE) };
      const script = `require(${JSON.stringify(esbuild)}).buildSync(${JSON.stringify(options)})`;
      return [`${JSON.stringify(process.execPath)} -e ${JSON.stringify(script)}`];
    },
  };
}

/** The latest Node.js runtime the installed CDK knows (cdk-nag L1 flags older ones); at least 22. */
export const PIPELINE_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** The aggregator's timeout: the idle closer derives how long a pending window may belong to a live writer from it. */
export const AGGREGATOR_TIMEOUT = Duration.seconds(60);

/**
 * How long a pending window may still belong to a writer that is emitting it: twice the aggregator's timeout, since
 * a writer emits within its own invocation.
 */
export const PENDING_STALE_AFTER = Duration.seconds(AGGREGATOR_TIMEOUT.toSeconds() * 2);

/**
 * The environment of a function that writes the window table, for how it talks to DynamoDB: set only where a
 * deployment differs from the defaults (`single` updates, {@link PENDING_KEY_SPREAD} buckets, {@link LANE_BUCKETS}
 * lane partitions), so that the AWS stages' functions carry none of these variables.
 */
export function windowTableAccessEnv(props: {
  readonly updateBatching?: UpdateBatching;
  readonly pendingKeySpread?: number;
  readonly laneBuckets?: number;
}): Record<string, string> {
  return {
    ...(props.updateBatching && props.updateBatching !== 'single' ? { [ENV.updateBatching]: props.updateBatching } : {}),
    ...(props.pendingKeySpread !== undefined && props.pendingKeySpread !== PENDING_KEY_SPREAD ? { [ENV.pendingKeySpread]: String(props.pendingKeySpread) } : {}),
    ...(props.laneBuckets !== undefined && props.laneBuckets !== LANE_BUCKETS ? { [ENV.laneBuckets]: String(props.laneBuckets) } : {}),
  };
}
