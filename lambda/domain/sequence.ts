/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits (real ones have 56): beyond a JavaScript number's
 * precision and DynamoDB's 38-digit numbers. A position prefixes the digits with their count, so that plain string
 * order equals numeric order, both in code and in DynamoDB, without padding every value to the maximum width. A KPL
 * sub-sequence number is appended so that every user record inside an aggregated record has its own position.
 * @see https://docs.aws.amazon.com/kinesis/latest/APIReference/API_Record.html
 */
/** Width of the digit-count prefix: enough for 129. */
const LENGTH_DIGITS = 3;
/** Width of the KPL sub-sequence part of a position. */
export const SUB_SEQUENCE_DIGITS = 10;

/** A totally ordered position of a (user) record within its shard, comparable as a string. */
export type Position = string;

/** Zero-padded digit counts, 0–129, so that the hot path does not pad per record. */
const LENGTH_PREFIX = Array.from({ length: 130 }, (_, i) => String(i).padStart(LENGTH_DIGITS, '0'));
const ZERO_SUB_SEQUENCE = '0'.repeat(SUB_SEQUENCE_DIGITS);

/** Any character that is not a decimal digit. */
const NON_DIGIT = /[^0-9]/;

/**
 * Whether `s` is 1–129 decimal digits. Why a search for a non-digit: it runs once per record over 56 digits, and the
 * regex engine's compiled scan took about half the time of a `charCodeAt` loop (and of an anchored `^[0-9]{1,129}$`)
 * on P1's batch.
 */
function isSequenceNumber(s: string): boolean {
  const n = s.length;
  return n > 0 && n <= 129 && !NON_DIGIT.test(s);
}

/** The position of a record: digit count, sequence number, a dot, padded sub-sequence number. */
export function positionOf(sequenceNumber: string, subSequenceNumber = 0): Position {
  if (!isSequenceNumber(sequenceNumber)) throw new Error(`invalid sequence number ${JSON.stringify(sequenceNumber)}`);
  let zeros = 0;
  while (zeros < sequenceNumber.length - 1 && sequenceNumber.charCodeAt(zeros) === 48) zeros++;
  const digits = zeros === 0 ? sequenceNumber : sequenceNumber.slice(zeros);
  const sub = subSequenceNumber === 0 ? ZERO_SUB_SEQUENCE : String(subSequenceNumber).padStart(SUB_SEQUENCE_DIGITS, '0');
  return `${LENGTH_PREFIX[digits.length]}${digits}.${sub}`;
}

/** True when `a` comes after `b`; an absent `b` (no fence yet) is before everything. */
export function isAfter(a: Position, b: Position | undefined): boolean {
  return b === undefined || a > b;
}
