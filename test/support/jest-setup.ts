// Matchers for aws-sdk-client-mock (toHaveReceivedCommandWith and friends), in every suite.
import 'aws-sdk-client-mock-jest';
