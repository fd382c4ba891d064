/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits (real ones have 56): beyond a JavaScript number's
 * precision and DynamoDB's 38-digit numbers. A position prefixes the digits with their count, so that plain string
 * order equals numeric order, both in code and in DynamoDB, without padding every value to the maximum width. A KPL
 * sub-sequence number is appended so that every user record inside an aggregated record has its own position.
 * @see https://docs.aws.amazon.com/kinesis/latest/APIReference/API_Record.html
 */
const SEQUENCE_NUMBER = /^\d{1,129}$/;
/** Width of the digit-count prefix: enough for 129. */
const LENGTH_DIGITS = 3;
/** Width of the KPL sub-sequence part of a position. */
export const SUB_SEQUENCE_DIGITS = 10;

/** A totally ordered position of a (user) record within its shard, comparable as a string. */
export type Position = string;

/** The position of a record: digit count, sequence number, a dot, padded sub-sequence number. */
export function positionOf(sequenceNumber: string, subSequenceNumber = 0): Position {
  if (!SEQUENCE_NUMBER.test(sequenceNumber)) throw new Error(`invalid sequence number ${JSON.stringify(sequenceNumber)}`);
  const digits = sequenceNumber.replace(/^0+(?=\d)/, '');
  return `${String(digits.length).padStart(LENGTH_DIGITS, '0')}${digits}.${String(subSequenceNumber).padStart(SUB_SEQUENCE_DIGITS, '0')}`;
}

/** True when `a` comes after `b`; an absent `b` (no fence yet) is before everything. */
export function isAfter(a: Position, b: Position | undefined): boolean {
  return b === undefined || a > b;
}
