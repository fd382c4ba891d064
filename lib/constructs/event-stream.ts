import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { CONFIG_DEFAULTS } from '../config/defaults';

/** Properties of {@link EventStream}. */
export interface EventStreamProps {
  /**
   * Capacity mode. On-demand suits unknown or spiky traffic; provisioned is cheaper at a steady, known rate.
   * @default kinesis.StreamMode.ON_DEMAND
   */
  readonly streamMode?: kinesis.StreamMode;
  /**
   * Number of shards; only used, and then required, in provisioned mode.
   * @default 1
   */
  readonly shardCount?: number;
  /**
   * How long records stay readable. It bounds how late a failed batch can still be redriven.
   * @default Duration.hours(24)
   */
  readonly retentionPeriod?: Duration;
  /**
   * What happens to the stream (and its unread records) when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Customer-managed key for server-side encryption. Consumers then need kms:Decrypt on it (the stream's
   * grantRead adds it) and producers kms:GenerateDataKey.
   * @default - the AWS-managed aws/kinesis key
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The ingest stream producers write to: a Kinesis data stream encrypted with the AWS-managed `aws/kinesis` key by
 * default, or with a customer-managed key.
 *
 * The AWS-managed key needs no key policy or grants for consumers in the same account, which keeps the Lambda and
 * Firehose roles free of KMS permissions while still satisfying "encrypted at rest".
 */
export class EventStream extends Construct {
  /** The underlying stream. */
  readonly stream: kinesis.Stream;

  constructor(scope: Construct, id: string, props: EventStreamProps = {}) {
    super(scope, id);
    const streamMode = props.streamMode ?? kinesis.StreamMode.ON_DEMAND;
    this.stream = new kinesis.Stream(this, 'Resource', {
      streamMode,
      // CloudFormation rejects ShardCount on on-demand streams.
      shardCount: streamMode === kinesis.StreamMode.PROVISIONED ? (props.shardCount ?? 1) : undefined,
      retentionPeriod: props.retentionPeriod ?? Duration.hours(CONFIG_DEFAULTS.retentionHours),
      encryption: props.encryptionKey ? kinesis.StreamEncryption.KMS : kinesis.StreamEncryption.MANAGED,
      encryptionKey: props.encryptionKey,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }
}
