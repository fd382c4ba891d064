// Types of the SDK client modules lambda/aggregator/lazy-adapters.ts imports by path (see there why): the packages
// type only their index, which re-exports these same classes.
declare module '@aws-sdk/client-s3/dist-es/S3Client' {
  export { S3Client } from '@aws-sdk/client-s3';
}
declare module '@aws-sdk/client-s3/dist-es/commands/PutObjectCommand' {
  export { PutObjectCommand } from '@aws-sdk/client-s3';
}
declare module '@aws-sdk/client-kinesis/dist-es/KinesisClient' {
  export { KinesisClient } from '@aws-sdk/client-kinesis';
}
declare module '@aws-sdk/client-kinesis/dist-es/commands/GetRecordsCommand' {
  export { GetRecordsCommand } from '@aws-sdk/client-kinesis';
}
declare module '@aws-sdk/client-kinesis/dist-es/commands/GetShardIteratorCommand' {
  export { GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
}
