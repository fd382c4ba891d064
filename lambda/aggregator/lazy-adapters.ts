import { S3Client } from '@aws-sdk/client-s3';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KinesisStreamReader } from '../adapters/kinesis-stream-reader';
import { S3RecordSink } from '../adapters/s3-record-sink';

/**
 * The aggregator's adapters that the common path does not use, loaded by `import()` from the composition root on
 * first use: their SDK clients then stay out of the cold start. This module imports named symbols statically, so
 * that esbuild still tree-shakes the clients (a dynamic import of `@aws-sdk/client-s3` itself would keep every
 * command).
 */

let s3: S3Client | undefined;

/** An S3 sink under `prefix`; the sinks share one S3 client. */
export function s3RecordSink(bucket: string, prefix: string): S3RecordSink {
  s3 ??= new S3Client({});
  return new S3RecordSink(s3, bucket, prefix);
}

/** The reader of skipped ranges. GetRecords needs no HTTP/2 (only SubscribeToShard does), and HTTP/1.1 is what emulators speak. */
export function kinesisStreamReader(): KinesisStreamReader {
  return new KinesisStreamReader(new KinesisClient({ requestHandler: new NodeHttpHandler() }));
}
