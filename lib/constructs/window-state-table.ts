import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ATTR, PENDING_INDEX } from '../../lambda/adapters/window-table-layout';

/** Name of the GSI that lists windows waiting to fire, per aggregation, ordered by fire time. */
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
}

/**
 * DynamoDB table holding open-window state: `pk`/`sk` keys, a KEYS_ONLY `pending` GSI (`pendingAgg`, `fireAt`) to
 * find windows due to fire, TTL on `expiresAt` as a clean-up (not a timer), on-demand billing, PITR, and encryption
 * with the AWS-managed `aws/dynamodb` key.
 */
export class WindowStateTable extends Construct {
  /** The underlying table. */
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: WindowStateTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.table = new dynamodb.Table(this, 'Resource', {
      partitionKey: { name: WINDOW_TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: WINDOW_TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
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
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...WINDOW_STATE_ACTIONS],
      resourceArns: [this.table.tableArn, `${this.table.tableArn}/index/${PENDING_INDEX_NAME}`],
    });
  }
}
