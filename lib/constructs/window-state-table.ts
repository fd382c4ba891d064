import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ATTR, PENDING_INDEX } from '../../lambda/contract/window-table-layout';

/**
 * Name of the GSI that lists windows waiting to fire, ordered by fire time, under write-sharded keys
 * `<aggregation>#<bucket>` (the creating shard's slot and a hash of the window key: see `pendingBucket`). The
 * sharding lives in the key's values, not in the key schema: the index definition is the same as with one key per
 * aggregation, so the layout change needed no index replacement (CloudFormation would otherwise have to delete and
 * create it, and DynamoDB allows one GSI creation or deletion per table update).
 */
export const PENDING_INDEX_NAME = PENDING_INDEX;

/** Key attributes of the window-state table, as the aggregator's store reads and writes them. */
export const WINDOW_TABLE_KEYS = {
  partitionKey: ATTR.pk,
  sortKey: ATTR.sk,
  pendingPartitionKey: ATTR.pending,
  pendingSortKey: ATTR.fireAt,
  ttl: ATTR.expiresAt,
} as const;

/**
 * Item-level actions the aggregator uses on window state: point reads, the `pending` query, conditional
 * updates/puts, and deletes of fired windows (transactions are authorised by these same actions). Listed instead of
 * `grantReadWriteData` so that the role carries no Scan, DescribeTable or stream access it does not use.
 */
export const WINDOW_STATE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
] as const;

/** Properties of {@link WindowStateTable}. */
export interface WindowStateTableProps {
  /**
   * What happens to the table when it leaves the stack. With RETAIN, deletion protection is also turned on.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Customer-managed key for encryption at rest; {@link WindowStateTable.grantWindowStateAccess} then also grants
   * the key actions DynamoDB performs for the caller.
   * @default - the AWS-managed aws/dynamodb key
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * Key actions a caller of a table encrypted with a customer-managed key needs (listed, instead of the L2's
 * `kms:GenerateDataKey*` / `kms:ReEncrypt*` wildcards).
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.usagenotes.html
 */
export const WINDOW_STATE_KEY_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'] as const;

/**
 * DynamoDB table holding open-window state: `pk`/`sk` keys, a KEYS_ONLY `pending` GSI (`pendingAgg` =
 * `<aggregation>#<bucket>`, `fireAt`) to find windows due to fire, TTL on `expiresAt` as a clean-up (not a timer), on-demand billing, PITR, and encryption
 * with the AWS-managed `aws/dynamodb` key or a customer-managed key.
 */
export class WindowStateTable extends Construct {
  /** The underlying table. */
  readonly table: dynamodb.Table;
  /** The customer-managed key, when one encrypts the table. */
  readonly encryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: WindowStateTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.encryptionKey = props.encryptionKey;
    this.table = new dynamodb.Table(this, 'Resource', {
      partitionKey: { name: WINDOW_TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: WINDOW_TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: props.encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      timeToLiveAttribute: WINDOW_TABLE_KEYS.ttl,
      removalPolicy,
      // Only emitted when retaining, so that destroyable stages stay deletable in one step.
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN ? true : undefined,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: PENDING_INDEX_NAME,
      partitionKey: { name: WINDOW_TABLE_KEYS.pendingPartitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: WINDOW_TABLE_KEYS.pendingSortKey, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
  }

  /**
   * Grants the window-state item actions on the table and the `pending` index, by exact ARN (no `index/*`).
   * [disable-awslint:no-grants]
   */
  grantWindowStateAccess(grantee: iam.IGrantable): iam.Grant {
    this.encryptionKey?.grant(grantee, ...WINDOW_STATE_KEY_ACTIONS);
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...WINDOW_STATE_ACTIONS],
      resourceArns: [this.table.tableArn, `${this.table.tableArn}/index/${PENDING_INDEX_NAME}`],
    });
  }
}
