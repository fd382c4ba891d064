import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CONFIG_DEFAULTS } from '../config/defaults';

/** Properties of {@link S3DeliveryStream}. */
export interface S3DeliveryStreamProps {
  /** Destination bucket. */
  readonly bucket: s3.IBucket;
  /** Prefix of delivered objects; may use `!{timestamp:...}` expressions. */
  readonly dataOutputPrefix: string;
  /** Prefix of records Firehose failed to deliver; may use `!{firehose:error-output-type}`. */
  readonly errorOutputPrefix: string;
  /**
   * Read from this Kinesis stream instead of accepting direct puts.
   * @default - direct put
   */
  readonly source?: kinesis.IStream;
  /**
   * How long Firehose buffers before writing an object (0–900 s).
   * @default Duration.seconds(300)
   */
  readonly bufferingInterval?: Duration;
  /**
   * How much Firehose buffers before writing an object (1–128 MiB).
   * @default Size.mebibytes(5)
   */
  readonly bufferingSize?: Size;
  /**
   * Object compression.
   * @default firehose.Compression.GZIP
   */
  readonly compression?: firehose.Compression;
  /**
   * Log delivery errors to a CloudWatch log group created here. Turning it off also removes the
   * AWS::Logs::LogStream that the L2 creates, which some emulators cannot deploy.
   * @default true
   */
  readonly errorLogging?: boolean;
  /**
   * Retention of the error log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the error log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Append a newline to every record (Firehose's AppendDelimiterToRecord processor, no Lambda), so that records
   * that arrive without one, such as a Kinesis source's, land as newline-delimited JSON that Athena can read.
   * @default false
   */
  readonly appendNewline?: boolean;
}

/**
 * Key actions Firehose needs to write objects to a bucket encrypted with a customer-managed key.
 * @see https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3
 */
export const FIREHOSE_S3_KEY_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

/**
 * The fixed leading part of an S3 prefix, up to the last `/` before the first `!{...}` expression: the narrowest
 * object ARN prefix that still covers every key Firehose may write.
 */
export function staticPrefixRoot(prefix: string): string {
  const fixed = prefix.split('!{')[0] ?? '';
  return fixed.slice(0, fixed.lastIndexOf('/') + 1);
}

/**
 * An Amazon Data Firehose delivery stream into S3 (L2 `DeliveryStream` + `S3Bucket` destination), with a single
 * role whose S3 access is scoped to the stream's own prefixes.
 *
 * The L2 `S3Bucket` destination would call `bucket.grantReadWrite(role)`, which allows `s3:DeleteObject*`,
 * `s3:GetObject*` and `s3:List*` on the whole bucket. The destination is given an immutable view of the role so
 * that grant is a no-op, and the statements from the Firehose S3 access guide are attached instead, limited to the
 * data and error prefixes.
 *
 * Encryption: a direct-put stream uses an AWS-owned key. Firehose rejects server-side encryption on a stream whose
 * source is a Kinesis data stream; there the records stay encrypted by the source stream's own SSE.
 *
 * @see https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3
 */
export class S3DeliveryStream extends Construct {
  /** The underlying delivery stream. */
  readonly deliveryStream: firehose.DeliveryStream;
  /** The role Firehose assumes to read the source and write to S3. */
  readonly role: iam.Role;
  /** The error log group, when error logging is on. */
  readonly logGroup?: logs.LogGroup;

  constructor(scope: Construct, id: string, props: S3DeliveryStreamProps) {
    super(scope, id);
    const { bucket } = props;

    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com') });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [bucket.bucketArn],
      }),
    );
    const roots = [...new Set([staticPrefixRoot(props.dataOutputPrefix), staticPrefixRoot(props.errorOutputPrefix)])];
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
        resources: roots.map((root) => bucket.arnForObjects(`${root}*`)),
      }),
    );
    // SSE-KMS bucket: S3 asks KMS for a data key on the writer's behalf (and Decrypt for multipart uploads).
    bucket.encryptionKey?.grant(this.role, ...FIREHOSE_S3_KEY_ACTIONS);

    let loggingConfig: firehose.ILoggingConfig;
    if (props.errorLogging ?? true) {
      this.logGroup = new logs.LogGroup(this, 'ErrorLogs', {
        retention: props.logRetention ?? CONFIG_DEFAULTS.logRetentionDays,
        removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
      });
      this.logGroup.grantWrite(this.role);
      loggingConfig = new firehose.EnableLogging(this.logGroup);
    } else {
      loggingConfig = new firehose.DisableLogging();
    }

    this.deliveryStream = new firehose.DeliveryStream(this, 'Resource', {
      // The mutable role lets the L2 grant read access on the source stream.
      role: this.role,
      source: props.source ? new firehose.KinesisStreamSource(props.source) : undefined,
      encryption: props.source ? undefined : firehose.StreamEncryption.awsOwnedKey(),
      destination: new firehose.S3Bucket(bucket, {
        role: this.role.withoutPolicyUpdates(),
        dataOutputPrefix: props.dataOutputPrefix,
        errorOutputPrefix: props.errorOutputPrefix,
        compression: props.compression ?? firehose.Compression.GZIP,
        bufferingInterval: props.bufferingInterval ?? Duration.seconds(300),
        bufferingSize: props.bufferingSize ?? Size.mebibytes(5),
        loggingConfig,
      }),
    });
    if (props.appendNewline) {
      const cfn = this.deliveryStream.node.defaultChild as firehose.CfnDeliveryStream;
      cfn.addPropertyOverride('ExtendedS3DestinationConfiguration.ProcessingConfiguration', {
        Enabled: true,
        // Without parameters the delimiter is a newline (API_Processor).
        Processors: [{ Type: 'AppendDelimiterToRecord' }],
      });
    }
    if (!(props.errorLogging ?? true)) {
      // The L2 omits CloudWatchLoggingOptions when logging is off; an omitted property would leave logging as it
      // was when a deployed stream is switched off, so disable it explicitly.
      const cfn = this.deliveryStream.node.defaultChild as firehose.CfnDeliveryStream;
      cfn.addPropertyOverride('ExtendedS3DestinationConfiguration.CloudWatchLoggingOptions', { Enabled: false });
    }
    // Firehose validates its access when the stream is created, so the role's policy must exist first; the L2 only
    // orders against grants it made itself, which are no-ops on the immutable view.
    this.deliveryStream.node.addDependency(this.role);
  }
}
