/**
 * A KinesisClient that runs the SDK's whole request path (serialising the PutRecords input to JSON with base64 data,
 * signing it, parsing the response) and answers in process instead of over the network: what a PutRecords call costs
 * the calling process in CPU, without a network or an emulator whose noise on a shared machine is larger than the
 * differences P6 measures. Every record is accepted.
 */
import { Buffer } from 'node:buffer';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LOCAL_REGION } from '../../scripts/local/probe';

/** The request body's marker of one record: the answer has one result per occurrence. */
const RECORD_MARKER = Buffer.from('"PartitionKey"');

/** Records in a serialised PutRecords body, counted without parsing it (the service's work, not the caller's). */
function recordsIn(body: unknown): number {
  const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from((body as Uint8Array).buffer, (body as Uint8Array).byteOffset, (body as Uint8Array).byteLength);
  let n = 0;
  for (let i = bytes.indexOf(RECORD_MARKER); i >= 0; i = bytes.indexOf(RECORD_MARKER, i + RECORD_MARKER.length)) n++;
  return n;
}

/** A client whose every PutRecords call succeeds whole, after the SDK's full request and response handling. */
export function inProcessKinesis(): KinesisClient {
  // One response body per call size, built once: the answer is the service's work, not the caller's.
  const bodies = new Map<number, Uint8Array>();
  const bodyFor = (n: number): Uint8Array => {
    let body = bodies.get(n);
    if (!body) {
      const Records = Array.from({ length: n }, (_, i) => ({ SequenceNumber: String(i + 1), ShardId: 'shardId-000000000000' }));
      bodies.set(n, (body = Buffer.from(JSON.stringify({ FailedRecordCount: 0, Records }))));
    }
    return body;
  };
  return new KinesisClient({
    region: LOCAL_REGION,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    requestHandler: {
      handle: (request: { body?: unknown }) =>
        Promise.resolve({
          response: { statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: bodyFor(recordsIn(request.body)) },
        }),
    },
  });
}
