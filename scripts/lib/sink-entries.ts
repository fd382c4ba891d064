import type { S3Client } from '@aws-sdk/client-s3';
import { NdjsonPrefixReader } from './s3-sinks';

/** Which sink an entry came from. */
export type SinkName = 'errors' | 'late';

/** An entry of the errors or late-data sink, normalised for display. */
export interface SinkEntry {
  readonly sink: SinkName;
  readonly reason: string;
  readonly shardId?: string;
  readonly sequenceNumber?: string;
  readonly subSequenceNumber?: number;
  readonly partitionKey?: string;
  /** The record as text when it is printable UTF-8, else `undefined` (see `payloadBase64`). */
  readonly payload?: string;
  readonly payloadBase64?: string;
  /** Late entries: the window it missed and the watermark that made it late. */
  readonly aggregation?: string;
  readonly windowStart?: string;
  readonly windowEnd?: string;
  readonly eventTime?: string;
  readonly watermark?: string;
}

/**
 * Text of a payload when it is printable UTF-8: decodes without replacement characters and holds no control
 * characters other than tab and line breaks. Anything else is binary and better shown as base64.
 */
export function printableUtf8(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  if (text.includes('\uFFFD') && !bytes.includes(Buffer.from('\uFFFD'))) return undefined;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what makes a payload unprintable
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) return undefined;
  return text;
}

/** Normalises one line of a sink object; the payload is decoded from `payloadBase64` where the sink kept it. */
export function toSinkEntry(sink: SinkName, raw: Record<string, unknown>): SinkEntry {
  const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? undefined : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));
  const b64 = str(raw.payloadBase64);
  const payload = b64 !== undefined ? printableUtf8(Buffer.from(b64, 'base64')) : str(raw.payload);
  return {
    sink,
    reason: str(raw.reason) ?? (raw.unparsed !== undefined ? 'unparsable sink line' : 'unknown'),
    shardId: str(raw.shardId),
    sequenceNumber: str(raw.sequenceNumber),
    subSequenceNumber: typeof raw.subSequenceNumber === 'number' ? raw.subSequenceNumber : undefined,
    partitionKey: str(raw.partitionKey),
    payload: payload ?? (raw.unparsed !== undefined ? str(raw.unparsed) : undefined),
    payloadBase64: b64,
    aggregation: str(raw.aggregation),
    windowStart: str(raw.windowStart),
    windowEnd: str(raw.windowEnd),
    eventTime: str(raw.eventTime),
    watermark: str(raw.watermark),
  };
}

/** Reads the chosen sinks under their prefixes. */
export async function readSinkEntries(
  s3: S3Client,
  bucket: string,
  prefixes: Partial<Record<SinkName, string>>,
): Promise<SinkEntry[]> {
  const out: SinkEntry[] = [];
  for (const sink of ['errors', 'late'] as const) {
    const prefix = prefixes[sink];
    if (prefix === undefined) continue;
    for (const line of await new NdjsonPrefixReader(s3, bucket, prefix).readAll()) {
      out.push(toSinkEntry(sink, (line && typeof line === 'object' ? line : { unparsed: String(line) }) as Record<string, unknown>));
    }
  }
  return out;
}

/** Longest payload shown in the table; `--json` has all of it. */
const PAYLOAD_COLUMN = 60;

/** Renders entries as an aligned text table. */
export function formatSinkTable(entries: readonly SinkEntry[]): string {
  if (entries.length === 0) return '(no entries)';
  const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const header = ['sink', 'reason', 'shard', 'sequence number', 'payload'];
  const rows = entries.map((e) => [
    e.sink,
    // The reason is the point of the command (it names the field and the limit), so it is never clipped.
    e.reason.replace(/\s+/g, ' '),
    e.shardId ?? '-',
    e.sequenceNumber ? `${e.sequenceNumber}${e.subSequenceNumber ? `/${e.subSequenceNumber}` : ''}` : '-',
    clip(e.payload !== undefined ? e.payload.replace(/\s+/g, ' ') : e.payloadBase64 ? `base64:${e.payloadBase64}` : '-', PAYLOAD_COLUMN),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
