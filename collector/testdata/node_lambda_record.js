'use strict';
// Record what @opentelemetry/instrumentation-aws-lambda really sends (node-lambda captures).
// Run by record.sh with NODE_PATH=scripts/node/node_modules and OTEL_EXPORTER_OTLP_ENDPOINT
// pointing at capture_server.py. Fakes the Lambda execution environment (env vars and a
// context object like the Node runtime's), sets up the SDK like a Lambda user / the
// opentelemetry-lambda Node layer does (OTLP/HTTP protobuf, BatchSpanProcessor, the AWS Lambda
// resource detector), then invokes the handler:
//   1. API Gateway REST (v1) proxy event, GET /orders/{id}          -> cold start
//   2. SQS event, 2 records, one with an X-Ray AWSTraceHeader        -> warm, pubsub + link
//   3. API Gateway v1 event whose handler throws                     -> ERROR + exception event
// The instrumentation force-flushes after every invocation: one OTLP request each.
const path = require('path');

const FN = 'orders-api-node';
const LOG_STREAM = '2026/11/24/[$LATEST]4d3c2b1a0f9e8d7c6b5a493827160514';
const ENV = {
  AWS_LAMBDA_FUNCTION_NAME: FN,
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
  AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${FN}`,
  AWS_LAMBDA_LOG_STREAM_NAME: LOG_STREAM,
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  LAMBDA_TASK_ROOT: __dirname,
  _HANDLER: 'node_lambda_handler.handler',
  OTEL_SERVICE_NAME: FN,
};
for (const [k, v] of Object.entries(ENV)) {
  if (process.env[k] === undefined) process.env[k] = v;
}
if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
  console.error('set OTEL_EXPORTER_OTLP_ENDPOINT (record.sh does)');
  process.exit(2);
}

const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { detectResources, envDetector } = require('@opentelemetry/resources');
const { awsLambdaDetector } = require('@opentelemetry/resource-detector-aws');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { AwsLambdaInstrumentation } = require('@opentelemetry/instrumentation-aws-lambda');

const resource = detectResources({ detectors: [envDetector, awsLambdaDetector] });
const provider = new NodeTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
});
provider.register();
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [new AwsLambdaInstrumentation()],
});

// Loaded after instrumentation, by absolute path, as the Lambda runtime does.
const { handler } = require(path.join(__dirname, 'node_lambda_handler.js'));

const ACCOUNT = '123456789012';
const ARN = `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:${FN}`;

function context(requestId, qualifier) {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: FN,
    functionVersion: '$LATEST',
    invokedFunctionArn: qualifier ? `${ARN}:${qualifier}` : ARN,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${FN}`,
    logStreamName: LOG_STREAM,
    getRemainingTimeInMillis: () => 29000,
    done() {}, fail() {}, succeed() {},
  };
}

function apigwV1(method, resourcePath, p) {
  return {
    resource: resourcePath,
    path: p,
    httpMethod: method,
    headers: {
      Host: 'abc123.execute-api.eu-west-1.amazonaws.com',
      'User-Agent': 'curl/8.5.0',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Port': '443',
    },
    multiValueHeaders: null,
    queryStringParameters: { expand: 'items' },
    pathParameters: { id: p.split('/').pop() },
    requestContext: {
      resourcePath,
      httpMethod: method,
      path: `/prod${p}`,
      stage: 'prod',
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      accountId: ACCOUNT,
      apiId: 'abc123',
    },
    body: null,
    isBase64Encoded: false,
  };
}

function sqsEvent() {
  const queueArn = `arn:aws:sqs:eu-west-1:${ACCOUNT}:orders-queue`;
  const rec = (messageId, body, attributes) => ({
    messageId,
    receiptHandle: 'AQEB...',
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1764000000000',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1764000000100',
      ...attributes,
    },
    messageAttributes: {},
    md5OfBody: '0'.repeat(32),
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'eu-west-1',
  });
  return {
    Records: [
      rec('059f36b4-87a3-44ab-83d2-661975830a7d', '{"order":1}', {
        AWSTraceHeader: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
      }),
      rec('2e1424d4-f796-459a-8184-9c92662be6da', '{"order":2}', {}),
    ],
  };
}

async function main() {
  await handler(apigwV1('GET', '/orders/{id}', '/orders/1001'), context('8e2f4c1a-6b3d-4f5e-9a7c-1d2e3f4a5b01', 'live'));
  await handler(sqsEvent(), context('8e2f4c1a-6b3d-4f5e-9a7c-1d2e3f4a5b02', '7'));
  let threw = false;
  try {
    await handler(apigwV1('GET', '/orders/{id}', '/orders/fail'), context('8e2f4c1a-6b3d-4f5e-9a7c-1d2e3f4a5b03'));
  } catch (e) {
    threw = true;
  }
  if (!threw) throw new Error('expected the handler to throw');
  await provider.shutdown();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
