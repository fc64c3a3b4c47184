import { describe, expect, it } from 'vitest';
import { CommonEnv, ConfigError, loadConfig, runtimeSettings } from './config.js';

const base = { DIRECTORY_FILE: 'directory.yaml' };
const tracingOf = (env: Record<string, string>) =>
  runtimeSettings(loadConfig(CommonEnv, { ...base, ...env })).tracing;

describe('tracing settings (OTEL_* variables)', () => {
  it('are off unless configured', () => {
    expect(tracingOf({})).toBeUndefined();
  });

  it('turn on with an endpoint, named after the service unless OTEL_SERVICE_NAME says otherwise', () => {
    expect(tracingOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      endpoint: 'http://collector:4318',
    });
    expect(
      tracingOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector', OTEL_SERVICE_NAME: 'approval-eu' }),
    ).toEqual({ endpoint: 'https://collector', serviceName: 'approval-eu' });
  });

  it('turn on with OTEL_TRACES_EXPORTER=otlp alone (the standard local endpoint), off with none', () => {
    expect(tracingOf({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ endpoint: 'http://localhost:4318' });
    expect(
      tracingOf({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }),
    ).toBeUndefined();
  });

  it('refuse what they cannot use, naming the variable', () => {
    for (const [variable, value] of [
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector:4317'],
      ['OTEL_TRACES_EXPORTER', 'jaeger'],
    ] as const) {
      let error: unknown;
      try {
        loadConfig(CommonEnv, { ...base, [variable]: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.variable)).toEqual([variable]);
    }
  });
});
