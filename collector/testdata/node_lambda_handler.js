'use strict';
// The user's Lambda function for the node-lambda capture (see node_lambda_record.js).
// Plain handler code, as a user would write it; the instrumentation wraps `handler`.
const { trace } = require('@opentelemetry/api');

const tracer = trace.getTracer('orders.handler', '1.0.0');

exports.handler = async (event, context) => {
  if (Array.isArray(event.Records)) {
    // SQS batch
    return { batchItemFailures: [] };
  }
  return tracer.startActiveSpan('validate order', (span) => {
    try {
      const id = (event.path || event.rawPath || '').split('/').pop();
      span.setAttribute('order.id', id);
      if (id === 'fail') {
        throw new Error('order fail does not exist');
      }
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
    } catch (err) {
      span.recordException(err);
      span.setStatus({ code: 2, message: err.message });
      throw err;
    } finally {
      span.end();
    }
  });
};
