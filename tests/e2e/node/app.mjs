// A Node app instrumented the way the Vercel AI SDK's docs say, exporting OTLP/HTTP JSON to otel-margin.
//
//   node app.mjs MODE OPENAI_BASE_URL OTLP_ENDPOINT TOKEN [RECORD_FILE]      (OTLP_ENDPOINT - : record only)
//
// MODE is how the app turns the AI SDK's telemetry on, and how it names the customer and feature:
//   otel    ai 7 + @ai-sdk/otel's OpenTelemetry (GenAI semconv spans); customer and feature put on every span
//           with enrichSpan, because its `chat` spans carry no runtimeContext
//   otel-default  the same integration as the AI SDK's docs register it, OpenTelemetry({ runtimeContext: true }):
//           what it reports without enrichSpan and usage (no customer or feature on `chat`, no reasoning count)
//   legacy  ai 7 + @ai-sdk/otel's LegacyOpenTelemetry (ai.* spans); runtimeContext + includeRuntimeContext
//   v6      ai 6 + @ai-sdk/openai 3, built-in telemetry; experimental_telemetry.metadata
//   v5      ai 5 + @ai-sdk/openai 2, the same
// Every call is one feature; the prompt names it, so the OpenAI stand-in answers each with its own usage.
// With RECORD_FILE the finished spans are also written there as JSON lines (name, parent, attributes): the
// source of tests/backend/normalize/testdata/recorded_ai_sdk_*.yaml.
import { writeFileSync } from 'node:fs';

import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

const [mode, baseURL, endpoint, token, recordFile] = process.argv.slice(2);
const CUSTOMER = 'acct_node_7';

const recorder = new InMemorySpanExporter();
const spanProcessors = [];
if (endpoint !== '-') {
  // OTLPTraceExporter from exporter-trace-otlp-http sends JSON (application/json).
  const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, headers: { authorization: `Bearer ${token}` } });
  spanProcessors.push(new BatchSpanProcessor(exporter));
}
if (recordFile) spanProcessors.push(new SimpleSpanProcessor(recorder));
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'e2e-node-app' }),
  spanProcessors,
});
provider.register();

let ai;
let openai;
const builtIn = mode === 'v6' || mode === 'v5';
if (builtIn) {
  ai = await import(mode === 'v6' ? 'ai-v6' : 'ai-v5');
  const { createOpenAI } = await import(mode === 'v6' ? 'ai-sdk-openai-v3' : 'ai-sdk-openai-v2');
  openai = createOpenAI({ baseURL, apiKey: 'sk-test' });
} else {
  ai = await import('ai');
  const { OpenTelemetry, LegacyOpenTelemetry } = await import('@ai-sdk/otel');
  const integration =
    mode === 'legacy'
      ? new LegacyOpenTelemetry()
      : mode === 'otel-default'
      ? new OpenTelemetry({ runtimeContext: true })
      : new OpenTelemetry({
          usage: true, // reasoning tokens (ai.usage.outputTokenDetails.reasoningTokens); without it none are sent
          // The customer and feature of the call, on every span it makes (the default keys customer.id, feature.name).
          enrichSpan: ({ runtimeContext }) => ({
            'customer.id': runtimeContext?.customer_id,
            'feature.name': runtimeContext?.feature,
          }),
        });
  ai.registerTelemetry(integration);
  const { createOpenAI } = await import('@ai-sdk/openai');
  openai = createOpenAI({ baseURL, apiKey: 'sk-test' });
}

function options(feature, model) {
  const prompt = `case:${feature} How are the margins?`;
  if (builtIn) {
    return {
      model,
      prompt,
      experimental_telemetry: { isEnabled: true, functionId: 'answer', metadata: { customer_id: CUSTOMER, feature } },
    };
  }
  return {
    model,
    prompt,
    runtimeContext: { customer_id: CUSTOMER, feature },
    telemetry: { functionId: 'answer', includeRuntimeContext: { customer_id: true, feature: true } },
  };
}

// openai(model) is the Responses API in @ai-sdk/openai 2, 3 and 4; openai.chat(model) is Chat Completions.
await ai.generateText(options('chat', openai.chat('gpt-4o-mini')));
await (await ai.streamText(options('chat-stream', openai.chat('gpt-4o-mini')))).text;
await ai.generateText(options('chat-cached', openai.chat('gpt-4o-mini')));
await ai.generateText(options('chat-reasoning', openai.chat('o4-mini')));
await ai.generateText(options('responses', openai('gpt-4o-mini')));
await (await ai.streamText(options('responses-stream-reasoning', openai('o4-mini')))).text;
const { prompt: value, ...embedOptions } = options('embed', openai.embedding('text-embedding-3-small'));
await ai.embed({ ...embedOptions, value });

await provider.forceFlush();
if (recordFile) {
  const lines = recorder.getFinishedSpans().map((span) =>
    JSON.stringify({
      name: span.name,
      span_id: span.spanContext().spanId,
      parent_span_id: span.parentSpanContext?.spanId ?? null,
      attributes: span.attributes,
    }),
  );
  writeFileSync(recordFile, `${lines.join('\n')}\n`);
}
await provider.shutdown();
