import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/** A GZIP stream starts with these bytes; Firehose on AWS compresses, emulators may not. */
const GZIP_MAGIC = [0x1f, 0x8b];

/** Lists every object key under a prefix. */
export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Reads an object's bytes, decompressed when they are GZIP. */
export async function readObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = Buffer.from(await res.Body!.transformToByteArray());
  return body[0] === GZIP_MAGIC[0] && body[1] === GZIP_MAGIC[1] ? gunzipSync(body) : body;
}

/**
 * Reads the newline-delimited JSON objects under a prefix (the errors sink, the late-data sink, the window results),
 * caching by key so that a refreshing view reads each object once.
 */
export class NdjsonPrefixReader {
  private readonly cache = new Map<string, unknown[]>();

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  /** Every line under the prefix, parsed; a line that is not JSON is returned as `{ unparsed: line }`. */
  async readAll(): Promise<unknown[]> {
    const keys = await listKeys(this.s3, this.bucket, this.prefix);
    for (const key of keys) {
      if (this.cache.has(key)) continue;
      const text = (await readObject(this.s3, this.bucket, key)).toString('utf8');
      this.cache.set(
        key,
        text
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => {
            try {
              return JSON.parse(l) as unknown;
            } catch {
              return { unparsed: l };
            }
          }),
      );
    }
    return keys.flatMap((k) => this.cache.get(k) ?? []);
  }
}
