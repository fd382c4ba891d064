import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RecordSink } from '../app/ports';

/**
 * Writes rejected records to S3 as one newline-delimited JSON object per batch, under a prefix. Object names are
 * derived from the batch's positions, so a redelivered batch overwrites its own object instead of adding one.
 */
export class S3RecordSink implements RecordSink {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  async write(name: string, entries: readonly object[]): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${this.prefix}${name}.ndjson`,
        Body: entries.map((e) => JSON.stringify(e)).join('\n') + '\n',
        ContentType: 'application/x-ndjson',
      }),
    );
  }
}
