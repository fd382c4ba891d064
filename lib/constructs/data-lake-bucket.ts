import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Properties of {@link DataLakeBucket}. */
export interface DataLakeBucketProps {
  /**
   * What happens to the bucket when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Empty the bucket on stack deletion so that DESTROY actually succeeds. This adds a Lambda-backed custom resource,
   * which some emulators cannot run; only allowed with RemovalPolicy.DESTROY.
   * @default true when removalPolicy is DESTROY, false otherwise
   */
  readonly autoDeleteObjects?: boolean;
}

/**
 * The data-lake bucket: every public access path blocked, TLS-only bucket policy, SSE-S3 encryption, and a lifecycle
 * rule that aborts multipart uploads left incomplete (for example by a Firehose or function timeout) after a day,
 * so that they do not accrue storage invisibly.
 */
export class DataLakeBucket extends Construct {
  /** The underlying bucket. */
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataLakeBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const autoDeleteObjects = props.autoDeleteObjects ?? removalPolicy === RemovalPolicy.DESTROY;
    if (autoDeleteObjects && removalPolicy !== RemovalPolicy.DESTROY) {
      throw new Error('DataLakeBucket: autoDeleteObjects requires removalPolicy DESTROY');
    }
    this.bucket = new s3.Bucket(this, 'Resource', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      lifecycleRules: [{ id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy,
      autoDeleteObjects,
    });
  }
}
