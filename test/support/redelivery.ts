import fc from 'fast-check';

/** One step of an adversarial delivery schedule, as an event source mapping might deliver. */
export type Step =
  | { kind: 'ok'; size: number }
  /** A crash after `afterWrites` window writes of the batch have landed. */
  | { kind: 'crash'; size: number; afterWrites: number }
  /** The results emission fails after the window writes. */
  | { kind: 'emit-fails'; size: number }
  /** Records already delivered come again, from up to `back` records before the checkpoint. */
  | { kind: 'redeliver'; size: number; back: number };

/** Schedules with every redelivery pattern: whole batches again, suffixes, shifted halves, crashes mid-batch. */
export function stepArb(maxSize = 40): fc.Arbitrary<Step> {
  return fc.oneof(
    fc.record({ kind: fc.constant('ok' as const), size: fc.integer({ min: 1, max: maxSize }) }),
    fc.record({ kind: fc.constant('crash' as const), size: fc.integer({ min: 1, max: maxSize }), afterWrites: fc.integer({ min: 0, max: 10 }) }),
    fc.record({ kind: fc.constant('emit-fails' as const), size: fc.integer({ min: 1, max: maxSize }) }),
    fc.record({ kind: fc.constant('redeliver' as const), size: fc.integer({ min: 1, max: maxSize }), back: fc.integer({ min: 1, max: maxSize }) }),
  );
}

/** How a delivery attempt is made and faults are armed, for a list of records of one lane. */
export interface Delivery<R> {
  /** Delivers a batch; resolves to the reported failure (a sequence number) or undefined; rejects on a function error. */
  deliver(batch: readonly R[]): Promise<string | undefined>;
  sequenceNumberOf(record: R): string;
  /** Arms the fault of a step before its delivery, and disarms it after. */
  arm?(step: Step): void;
  disarm?(): void;
}

/**
 * Plays a schedule as the event source mapping would: a batch starts at the checkpoint (or, for a redelivery, up to
 * `back` records before it, never before the last successful batch's start), a function error delivers again from
 * the same place, and a partial batch response moves the checkpoint to the reported record. Steps past the end of
 * the schedule are clean batches of 25, until every record is through.
 */
export async function playSchedule<R>(records: readonly R[], steps: readonly Step[], d: Delivery<R>): Promise<void> {
  let checkpoint = 0;
  let lastBatchStart = 0;
  for (let i = 0; checkpoint < records.length; i++) {
    const step: Step = steps[i] ?? { kind: 'ok', size: 25 };
    const from = step.kind === 'redeliver' ? Math.max(lastBatchStart, checkpoint - step.back) : checkpoint;
    const batch = records.slice(from, from + step.size);
    d.arm?.(step);
    try {
      const failed = await d.deliver(batch);
      const failedAt = failed === undefined ? -1 : batch.findIndex((r) => d.sequenceNumberOf(r) === failed);
      lastBatchStart = from;
      checkpoint = Math.max(checkpoint, failedAt >= 0 ? from + failedAt : from + batch.length);
    } catch {
      // A function error: the same records come again.
    } finally {
      d.disarm?.();
    }
  }
}
