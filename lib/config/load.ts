import { nearest, parseAggregationSpecJson, SpecValidationError, type AggregationSpec } from '../../lambda/domain/spec';
import { GLUE_PARTITION_COLUMNS } from '../constructs/data-lake-catalog';
import { ConfigError, fieldError } from './errors';
import { LAMBDA_ENVIRONMENT_MAX_BYTES, MAX_SPEC_ENV_BYTES } from './limits';
import { crossFieldProblems, parallelizationProblem, resolveSettings, windowRetentionSecondsFor } from './rules';
import { CONFIG_KEYS, settingsSchema, type PipelineConfig, type PipelineSettings } from './schema';

/*
 * The loader: raw values in, a validated config out, or a ConfigError naming each field at fault.
 *
 * Everything here is pure: bin/app.ts gathers raw values (CDK context, file contents) and hands them in, so the
 * validation rules can be unit-tested without an App and a bad value fails `cdk synth` before any construct exists.
 */

/** A context key that looks like a setting name (see {@link parseSettings}). */
const SETTING_SHAPED = /^[a-z][A-Za-z0-9]*$/;

/**
 * Validates raw settings (strings from `-c`, or JSON values from cdk.json) and applies defaults.
 * @throws ConfigError naming every invalid field with its allowed range
 */
export function parseSettings(raw: Record<string, unknown>): PipelineSettings {
  // CDK's own context keys (`@aws-cdk/…`, `aws:cdk:…`, `acknowledged-issue-numbers`) are not settings; any other
  // key shaped like one (camelCase) is a misspelt or removed setting, which would otherwise be silently ignored.
  const unknown = Object.keys(raw).filter((k) => SETTING_SHAPED.test(k) && !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new ConfigError(
      unknown
        .map((k) => {
          const near = nearest(k, CONFIG_KEYS);
          return `Invalid config "${k}": unknown setting${near ? ` (did you mean "${near}"?)` : ''}`;
        })
        .join('\n'),
      unknown,
    );
  }
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    const seen = new Map<string, string>();
    for (const issue of result.error.issues) {
      const field = String(issue.path[0] ?? '(root)');
      if (!seen.has(field)) seen.set(field, issue.message);
    }
    const lines = [...seen].map(([field, message]) => fieldError(field, message, raw[field]));
    throw new ConfigError(lines.join('\n'), [...seen.keys()]);
  }
  const problems = crossFieldProblems(result.data);
  if (problems.length > 0) {
    throw new ConfigError(
      problems.map(([field, message]) => fieldError(field, message, raw[field])).join('\n'),
      problems.map(([field]) => field),
    );
  }
  return resolveSettings(result.data);
}

/**
 * Validates spec JSON text with the same schema the handler uses, and checks that its compact form fits the
 * AGGREGATION_SPEC environment variable.
 * @param specPath the configured path, for the message
 * @throws ConfigError naming the "spec" field and each failing spec field
 */
export function parseSpec(text: string, specPath: string): { spec: AggregationSpec; json: string } {
  let spec: AggregationSpec;
  try {
    spec = parseAggregationSpecJson(text, `aggregation spec ${JSON.stringify(specPath)}`);
  } catch (e) {
    if (!(e instanceof SpecValidationError)) throw e;
    throw new ConfigError(
      `Invalid config "spec": ${JSON.stringify(specPath)} is not a valid aggregation spec:\n  - ${e.issues.join('\n  - ')}`,
      ['spec'],
    );
  }
  const fields = [
    spec.eventTime.field,
    ...(spec.partitionKey ?? []),
    ...spec.aggregations.flatMap((a) => [...a.groupBy, ...a.measures.flatMap((m) => ('field' in m ? [m.field] : []))]),
  ];
  // The raw-events table has a column per top-level field (lower-cased) next to its partition columns.
  const clashes = [...new Set(fields.filter((f) => GLUE_PARTITION_COLUMNS.includes(f.split('.')[0].toLowerCase())))];
  if (clashes.length > 0) {
    throw new ConfigError(
      `Invalid config "spec": ${JSON.stringify(specPath)} reads the field${clashes.length > 1 ? 's' : ''} ${clashes.map((c) => `"${c}"`).join(', ')}, ` +
        `whose name collides with a partition column of the Glue raw-events table (${GLUE_PARTITION_COLUMNS.join(', ')}); rename the field`,
      ['spec'],
    );
  }
  const json = JSON.stringify(spec);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_SPEC_ENV_BYTES) {
    throw new ConfigError(
      `Invalid config "spec": ${JSON.stringify(specPath)} is ${bytes} bytes as compact JSON; the AGGREGATION_SPEC ` +
        `environment variable allows at most ${MAX_SPEC_ENV_BYTES} bytes (Lambda environment variables total ` +
        `${LAMBDA_ENVIRONMENT_MAX_BYTES} bytes). Split the aggregations across deployments or shorten names.`,
      ['spec'],
    );
  }
  return { spec, json };
}

/**
 * Builds the validated pipeline config from raw settings.
 * @param raw values by config key (see CONFIG_KEYS); an unknown key fails, naming the nearest valid one
 * @param readSpec returns the text of the spec file at the configured path (injected so this stays pure)
 * @throws ConfigError naming the field at fault
 */
export function loadConfig(raw: Record<string, unknown>, readSpec: (specPath: string) => string): PipelineConfig {
  const settings = parseSettings(raw);
  let text: string;
  try {
    text = readSpec(settings.spec);
  } catch (e) {
    throw new ConfigError(
      `Invalid config "spec": cannot read ${JSON.stringify(settings.spec)} (${(e as Error).message})`,
      ['spec'],
    );
  }
  const { spec, json } = parseSpec(text, settings.spec);
  const why = parallelizationProblem(settings, spec);
  if (why !== undefined) throw new ConfigError(why, ['parallelizationFactor']);
  return { ...settings, windowRetentionSeconds: windowRetentionSecondsFor(settings.retentionHours), aggregationSpec: spec, aggregationSpecJson: json };
}
