import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import type { UpdateBatching } from '../../lambda/contract/env';
import { readStackOutputs, type StackOutputs } from '../lib/stack-outputs';
import { localDir } from './process';
import { LOCAL_REGION } from './probe';

/** The repository root. */
export const REPO_ROOT = resolve(__dirname, '..', '..');
/** Where local runs keep their state: PID file, logs, outputs, deploy fingerprint (git-ignored). */
export const LOCAL_DIR = localDir(REPO_ROOT);
/** The stack outputs of the local deployment, as `cdk deploy --outputs-file` writes them. */
export const LOCAL_OUTPUTS_FILE = join(LOCAL_DIR, 'outputs.json');
/** The local stack's stage; its name is `WindowedPipeline-local`. */
export const LOCAL_STAGE = 'local';
/** The account emulators answer for (the region is {@link LOCAL_REGION}). */
export const LOCAL_ACCOUNT = '000000000000';
export { LOCAL_REGION };

/** What the local deployment is configured with, beyond the defaults. */
export interface LocalDeployOptions {
  /** The emulator's endpoint. */
  readonly endpoint: string;
  /** The environment for AWS calls against it (credentials, region, endpoint). */
  readonly awsEnv: Record<string, string>;
  /** Aggregation spec file. @default specs/demo.json */
  readonly spec?: string;
  /** Redeploy even when nothing changed. @default false */
  readonly force?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/**
 * The local stage's event source BatchSize: Kinesis's maximum, against the AWS stage's 500 (`CONFIG_DEFAULTS`).
 * Why: the emulator's mapping invokes the function one batch at a time per shard and polls again as soon as a batch
 * returns, so each invocation's fixed cost (tens of ms of process and request overhead) is paid per batch; with 500
 * the mapping, not the pipeline, bounded the local rate (P5). A batch takes whatever the shard holds up to this size,
 * so a consumer that keeps up still gets small batches, and one that falls behind catches up in large ones, each
 * pre-aggregated into far fewer window writes per record. On AWS, 500 with a 1 s batching window keeps a batch's
 * duration and retry cost small; see README "Configuration".
 */
export const LOCAL_BATCH_SIZE = 10_000;

/**
 * How the local stage's functions send their conditional DynamoDB updates: grouped into transactions, against the AWS
 * stages' one UpdateItem each (`CONFIG_DEFAULTS`). Why: the emulator serves every request in one Python process, at
 * about 2 ms a request and under 1 ms an action of a transaction, so a batch's ~75 window writes and ~20 emitted marks
 * cost it ~0.2 s one by one and ~0.07 s as one transaction (P5). On AWS the requests run side by side and a transaction
 * bills twice the write units; see README "Configuration".
 */
export const LOCAL_UPDATE_BATCHING: UpdateBatching = 'transactions';

/**
 * The local stage's buckets per shard slot of the `pending` index, against the AWS stages' 32 (`PENDING_KEY_SPREAD`).
 * Why: the spread exists to keep DynamoDB index partitions under their write limit; the emulator has no partitions and
 * serves every Query in one process, at about 2 ms each. With 32, a batch whose watermark passes a window end made 64
 * Queries (two aggregations), and each run of the idle closer (every minute) 8,192, about 20 s of the emulator's time
 * a minute; with 1, 2 and 256.
 */
export const LOCAL_PENDING_KEY_SPREAD = 1;

/**
 * The local stage's partitions of the lane items, against the AWS stages' 8 (`LANE_BUCKETS`). Why: every batch reads
 * every lane, one Query per partition; the emulator has no partitions to spread over and serves the Queries one after
 * another: 8 in flight took about 27 ms of a batch and 10 ms of the emulator's CPU, one about 4 ms and 2 ms (P5).
 */
export const LOCAL_LANE_BUCKETS = 1;

/**
 * The CDK context of a local deployment: Firehose error logging off (emulators cannot create
 * AWS::Logs::LogStream), no auto-delete custom resource (emulators run it without the SDK it needs), the largest
 * batches ({@link LOCAL_BATCH_SIZE}), updates grouped into transactions ({@link LOCAL_UPDATE_BATCHING}), one
 * `pending` index bucket per shard slot ({@link LOCAL_PENDING_KEY_SPREAD}) and one lane partition
 * ({@link LOCAL_LANE_BUCKETS}).
 */
export function localContext(spec: string | undefined): string[] {
  const ctx = [
    `stage=${LOCAL_STAGE}`,
    'firehoseErrorLogging=false',
    'autoDeleteObjects=false',
    `batchSize=${LOCAL_BATCH_SIZE}`,
    `dynamoDbUpdateBatching=${LOCAL_UPDATE_BATCHING}`,
    `pendingKeySpread=${LOCAL_PENDING_KEY_SPREAD}`,
    `laneBuckets=${LOCAL_LANE_BUCKETS}`,
  ];
  if (spec) ctx.push(`spec=${resolve(spec)}`);
  return ctx.flatMap((c) => ['-c', c]);
}

const FINGERPRINTED = ['bin', 'lib', 'lambda', 'specs', 'package-lock.json', 'cdk.json'];

function walk(path: string, out: string[]): void {
  if (!existsSync(path)) return;
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) walk(join(path, entry), out);
  } else {
    out.push(path);
  }
}

/** A hash of everything a deployment depends on, so an unchanged second run can skip `cdk deploy`. */
export function deployFingerprint(opts: LocalDeployOptions): string {
  const hash = createHash('sha256');
  const files: string[] = [];
  for (const f of FINGERPRINTED) walk(join(REPO_ROOT, f), files);
  if (opts.spec) files.push(resolve(opts.spec));
  for (const f of files) hash.update(relative(REPO_ROOT, f)).update('\0').update(readFileSync(f));
  hash.update(JSON.stringify({ endpoint: opts.endpoint, ctx: localContext(opts.spec) }));
  return hash.digest('hex');
}

/** Runs the CDK CLI of this repository with the emulator's environment. */
export function runCdk(args: string[], env: Record<string, string>, log?: (line: string) => void): Promise<void> {
  const cdk = join(REPO_ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cdk, ...args, '--no-notices', '--no-version-reporting'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, CDK_DEFAULT_ACCOUNT: LOCAL_ACCOUNT, CDK_DEFAULT_REGION: LOCAL_REGION },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-8000);
      if (log) for (const line of text.split('\n')) if (line.trim()) log(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`cdk ${args[0]} failed (exit ${code}):\n${tail}`));
    });
  });
}

async function stackIsLive(outputs: StackOutputs, awsEnv: Record<string, string>): Promise<boolean> {
  const clientConfig = { endpoint: awsEnv.AWS_ENDPOINT_URL, region: awsEnv.AWS_REGION, credentials: { accessKeyId: awsEnv.AWS_ACCESS_KEY_ID, secretAccessKey: awsEnv.AWS_SECRET_ACCESS_KEY } };
  try {
    await new KinesisClient(clientConfig).send(new DescribeStreamSummaryCommand({ StreamName: outputs.StreamName }));
    await new DynamoDBClient(clientConfig).send(new DescribeTableCommand({ TableName: outputs.WindowTableName }));
    return true;
  } catch {
    return false;
  }
}

/**
 * Bootstraps and deploys the real CDK app to the emulator, writing {@link LOCAL_OUTPUTS_FILE}. Skips both when the
 * fingerprint matches the last deployment and its stream and table still exist (an emulator restart loses them).
 */
export async function deployLocal(opts: LocalDeployOptions): Promise<{ outputs: StackOutputs; deployed: boolean }> {
  mkdirSync(LOCAL_DIR, { recursive: true });
  const fingerprintFile = join(LOCAL_DIR, 'deploy-fingerprint');
  const fingerprint = deployFingerprint(opts);
  if (!opts.force && existsSync(LOCAL_OUTPUTS_FILE) && existsSync(fingerprintFile)) {
    if (readFileSync(fingerprintFile, 'utf8') === fingerprint) {
      const outputs = readStackOutputs(LOCAL_OUTPUTS_FILE);
      if (await stackIsLive(outputs, opts.awsEnv)) {
        opts.log?.('stack unchanged and live: skipping deploy');
        return { outputs, deployed: false };
      }
    }
  }
  opts.log?.('cdk bootstrap');
  await runCdk(['bootstrap', `aws://${LOCAL_ACCOUNT}/${LOCAL_REGION}`, ...localContext(opts.spec)], opts.awsEnv, opts.log);
  opts.log?.('cdk deploy');
  await runCdk(
    ['deploy', '--all', '--require-approval', 'never', '--outputs-file', LOCAL_OUTPUTS_FILE, ...localContext(opts.spec)],
    opts.awsEnv,
    opts.log,
  );
  writeFileSync(fingerprintFile, fingerprint);
  return { outputs: readStackOutputs(LOCAL_OUTPUTS_FILE), deployed: true };
}
