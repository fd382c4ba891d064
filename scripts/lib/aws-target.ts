import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_CREDENTIAL, LOCAL_REGION } from '../local/probe';

/** Where the tools send AWS calls: an emulator endpoint, or the default AWS credential chain and region. */
export interface AwsTarget {
  /** The emulator endpoint; undefined for real AWS. */
  readonly endpoint?: string;
  readonly region?: string;
}

/** SDK client configuration for a target. Emulators accept any credentials; `test` is the convention. */
export function clientConfig(target: AwsTarget) {
  if (!target.endpoint) return target.region ? { region: target.region } : {};
  return {
    endpoint: target.endpoint,
    region: target.region ?? LOCAL_REGION,
    credentials: { accessKeyId: LOCAL_CREDENTIAL, secretAccessKey: LOCAL_CREDENTIAL },
    // Emulators serve buckets on the path, not as virtual hosts.
    forcePathStyle: true,
  };
}

/** The SDK clients the tools use, built once per command. */
export interface AwsClients {
  readonly kinesis: KinesisClient;
  readonly doc: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
}

/** Builds the clients for a target. */
export function awsClients(target: AwsTarget): AwsClients {
  const cfg = clientConfig(target);
  return {
    // The Kinesis client defaults to HTTP/2, which emulators serve badly: ministack's answers arrive, then the session
    // errors, so a written batch looked failed and was sent again. HTTP/1.1 is what every other client uses anyway.
    kinesis: new KinesisClient({ ...cfg, requestHandler: new NodeHttpHandler() }),
    doc: DynamoDBDocumentClient.from(new DynamoDBClient(cfg), { marshallOptions: { removeUndefinedValues: true } }),
    s3: new S3Client(cfg),
    sqs: new SQSClient(cfg),
    lambda: new LambdaClient(cfg),
  };
}
