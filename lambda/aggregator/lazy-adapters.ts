// The clients' own modules, not their package index: esbuild bundles a lazily imported module's whole import graph
// (it wraps it in a lazy initialiser, and initialising an index runs every module it re-exports), so an index import
// here brought every command of S3 and Kinesis, ~50 KiB compiled at each cold start (P4). Typed in sdk-modules.d.ts.
import { S3Client } from '@aws-sdk/client-s3/dist-es/S3Client';
import { PutObjectCommand } from '@aws-sdk/client-s3/dist-es/commands/PutObjectCommand';
import { KinesisClient } from '@aws-sdk/client-kinesis/dist-es/KinesisClient';
import { GetRecordsCommand } from '@aws-sdk/client-kinesis/dist-es/commands/GetRecordsCommand';
import { GetShardIteratorCommand } from '@aws-sdk/client-kinesis/dist-es/commands/GetShardIteratorCommand';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KinesisStreamReader } from '../adapters/kinesis-stream-reader';
import { S3RecordSink } from '../adapters/s3-record-sink';

/**
 * The aggregator's adapters that the common path does not use. The stack builds this module into a file of its own
 * beside the function's bundle (`LAZY_ADAPTERS_FILE`), which the composition root loads on first use
 * (`loadLazyAdapters`): their SDK clients then stay out of what the cold start compiles. This module imports the
 * clients' and commands' own modules, so that esbuild bundles only them (`@aws-sdk/client-s3`'s index would bring
 * every command).
 */

let s3: S3Client | undefined;

/** An S3 sink under `prefix`; the sinks share one S3 client. */
export function s3RecordSink(bucket: string, prefix: string): S3RecordSink {
  s3 ??= new S3Client({});
  return new S3RecordSink(s3, bucket, prefix, { PutObjectCommand });
}

/** The reader of skipped ranges. GetRecords needs no HTTP/2 (only SubscribeToShard does), and HTTP/1.1 is what emulators speak. */
export function kinesisStreamReader(): KinesisStreamReader {
  return new KinesisStreamReader(new KinesisClient({ requestHandler: new NodeHttpHandler() }), { GetShardIteratorCommand, GetRecordsCommand });
}
