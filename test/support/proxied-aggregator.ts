import { afterAll, beforeAll } from '@jest/globals';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { ENV } from '../../lambda/contract/env';
import type { AggregationSpec } from '../../lambda/domain/spec';
import type { StackOutputs } from '../../scripts/lib/stack-outputs';
import { functionEnvFor, loadBundledHandler } from './bundled-function';
import { FaultProxy } from './fault-proxy';
import { kinesisEvent } from './harness';
import type { Step } from './redelivery';

type Handler = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;

/** A stream record as the schedules deliver it. */
interface Deliverable {
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly sequenceNumber: string;
}

/**
 * The deployed stack's bundled aggregator, loaded in this process with a spec of the test's own, talking to the
 * emulator through a {@link FaultProxy} (when an endpoint is set) that the schedules' crash and failed-emission steps
 * arm. Registers the suite's `beforeAll`/`afterAll`; call it at a test file's top level.
 */
export function proxiedAggregator(outputs: StackOutputs & { stackName: string }, endpoint: string | undefined, spec: AggregationSpec, metricsNamespace: string) {
  let proxy: FaultProxy | undefined;
  let handler: Handler | undefined;
  beforeAll(async () => {
    if (endpoint) {
      proxy = new FaultProxy(new URL(endpoint));
      process.env.AWS_ENDPOINT_URL = await proxy.start();
    }
    Object.assign(process.env, functionEnvFor(outputs, spec, {
      // Every delivery may emit what a crashed one left pending, so a schedule's end shows all that was left.
      [ENV.pendingStaleAfterMs]: '0',
      [ENV.serviceName]: 'aggregator',
      [ENV.metricsNamespace]: metricsNamespace,
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    }));
    handler = loadBundledHandler<Handler>(outputs.stackName, 'aggregator');
  });
  afterAll(async () => proxy?.stop());
  const invoke = (event: KinesisStreamEvent) => {
    if (!handler) throw new Error('the bundled aggregator is loaded in beforeAll');
    return handler(event);
  };
  return {
    invoke,
    /** The `playSchedule` delivery of one lane: batches to the handler, faults armed on the proxy. */
    deliveryTo: <R extends Deliverable>(lane: string) => ({
      sequenceNumberOf: (r: R) => r.sequenceNumber,
      arm: (step: Step) => {
        if (proxy && step.kind === 'crash') proxy.updatesLeft = step.afterWrites;
        if (proxy && step.kind === 'emit-fails') proxy.failEmissions = true;
      },
      disarm: () => {
        if (!proxy) return;
        proxy.updatesLeft = undefined;
        proxy.failEmissions = false;
      },
      deliver: async (batch: readonly R[]) => (await invoke(kinesisEvent(lane, batch))).batchItemFailures[0]?.itemIdentifier,
    }),
  };
}
