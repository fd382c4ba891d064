import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Lifecycle of the objects under one key prefix. */
export interface PrefixLifecycle {
  /** Key prefix, ending in "/". */
  readonly prefix: string;
  /**
   * Move the objects to STANDARD_IA after this long (at least 30 days, an S3 minimum).
   * @default - never
   */
  readonly infrequentAccessAfter?: Duration;
  /**
   * Move the objects to GLACIER_IR after this long (at least 30 days after STANDARD_IA).
   * @default - never
   */
  readonly glacierAfter?: Duration;
  /**
   * Delete the objects after this long.
   * @default - never
   */
  readonly expireAfter?: Duration;
}

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
  /**
   * Customer-managed key for default encryption (SSE-KMS with an S3 Bucket Key, which cuts KMS requests, and so
   * their cost, by caching a bucket-level data key). Writers then need kms:GenerateDataKey on it.
   * @default - SSE-S3
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Keep object versions, so an overwrite or delete can be undone.
   * @default false
   */
  readonly versioned?: boolean;
  /**
   * With versioning, delete noncurrent versions after this long.
   * @default - never
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * Storage-class transitions and expiry per prefix.
   * @default - none
   */
  readonly prefixLifecycles?: readonly PrefixLifecycle[];
}

/** The lifecycle rule id of a prefix (stable, so a changed rule updates rather than replaces). */
export function lifecycleRuleId(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}-lifecycle`;
}

/**
 * The data-lake bucket: every public access path blocked, TLS-only bucket policy, SSE-S3 or SSE-KMS encryption,
 * optional versioning, per-prefix transitions and expiry, and a lifecycle rule that aborts multipart uploads left
 * incomplete (for example by a Firehose or function timeout) after a day, so that they do not accrue storage
 * invisibly.
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
    const versioned = props.versioned ?? false;
    const lifecycleRules: s3.LifecycleRule[] = [
      { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ];
    if (versioned && props.noncurrentVersionExpiration) {
      lifecycleRules.push({ id: 'noncurrent-versions', noncurrentVersionExpiration: props.noncurrentVersionExpiration });
    }
    for (const p of props.prefixLifecycles ?? []) {
      const transitions: s3.Transition[] = [];
      if (p.infrequentAccessAfter) {
        transitions.push({ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: p.infrequentAccessAfter });
      }
      if (p.glacierAfter) {
        transitions.push({ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: p.glacierAfter });
      }
      if (transitions.length === 0 && !p.expireAfter) continue;
      lifecycleRules.push({
        id: lifecycleRuleId(p.prefix),
        prefix: p.prefix,
        transitions: transitions.length > 0 ? transitions : undefined,
        expiration: p.expireAfter,
      });
    }
    this.bucket = new s3.Bucket(this, 'Resource', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: props.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      versioned: versioned || undefined,
      lifecycleRules,
      removalPolicy,
      autoDeleteObjects,
    });
  }
}
