import type { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { RecordSink } from '../app/ports';

/**
 * The S3 command the sink sends, given by the caller: a bundle can then take it from the client's own module instead
 * of the package index, which brings every S3 command into it (see lambda/aggregator/lazy-adapters.ts).
 */
export interface S3SinkCommands {
  readonly PutObjectCommand: typeof PutObjectCommand;
}

/**
 * Writes rejected records to S3 as one newline-delimited JSON object per batch, under a prefix. Object names are
 * derived from the batch's positions, so a redelivered batch overwrites its own object instead of adding one.
 */
export class S3RecordSink implements RecordSink {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly commands: S3SinkCommands,
  ) {}

  async write(name: string, entries: readonly object[]): Promise<void> {
    await this.client.send(
      new this.commands.PutObjectCommand({
        Bucket: this.bucket,
        Key: `${this.prefix}${name}.ndjson`,
        Body: entries.map((e) => JSON.stringify(e)).join('\n') + '\n',
        ContentType: 'application/x-ndjson',
      }),
    );
  }
}
