import type { SourceRecord } from '../../lambda/app/ports';
import { processBatch, type BatchDeps } from '../../lambda/app/process-batch';
import type { MemoryResultSink } from './harness';
import type { MemoryWindowStore } from './memory-window-store';
import { playSchedule, type Step } from './redelivery';

/** A schedule's faults on the in-memory ports: a crash after some window writes, a failed emission. */
export function memoryFaults(store: MemoryWindowStore, results: MemoryResultSink) {
  return {
    arm: (step: Step) => {
      if (step.kind === 'crash') store.failAfterWrites = store.writes + step.afterWrites;
      if (step.kind === 'emit-fails') results.failNext = 1;
    },
    disarm: () => {
      store.failAfterWrites = undefined;
      results.failNext = 0;
    },
  };
}

/** Plays a schedule of one lane through the batch use case on in-memory ports, a second of processing time a delivery. */
export async function playInMemory(
  records: SourceRecord[],
  steps: Step[],
  deps: BatchDeps,
  store: MemoryWindowStore,
  results: MemoryResultSink,
  lane: string,
): Promise<void> {
  let now = 1_000_000;
  await playSchedule(records, steps, {
    sequenceNumberOf: (r) => r.sequenceNumber,
    ...memoryFaults(store, results),
    deliver: async (batch) => (await processBatch(deps, { lane, records: [...batch] }, (now += 1000))).failedSequenceNumber,
  });
}
