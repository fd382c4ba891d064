/**
 * Probing the local AWS emulator: the one default endpoint, what answers there (ministack or LocalStack), and the
 * environment a client needs to talk to it.
 */
/** The default emulator endpoint (LocalStack-compatible edge port on the loopback address). */
export const EMULATOR_ENDPOINT = 'http://127.0.0.1:4566';

/** The region and credentials emulators accept; any credentials work, `test` is the convention. */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIAL = 'test';

/** What answered at an endpoint. */
export type EmulatorKind = 'ministack' | 'localstack' | 'unknown';

/** The result of {@link probeEmulator}: something answers at the endpoint. */
export interface EmulatorProbe {
  readonly kind: EmulatorKind;
  /** The endpoint that was probed. */
  readonly endpoint: string;
  /** The version the health document reports, when it reports one. */
  readonly version?: string;
  /** The services the health document lists, with their state (`available`, `running`, ...). */
  readonly services: Readonly<Record<string, string>>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function getJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body };
  } catch {
    // Connection refused, reset or timed out: nothing (usable) answers.
    return null;
  }
}

/**
 * Asks `GET /_localstack/health` at an endpoint what is there.
 *
 * ministack is told apart from LocalStack by its own `/_ministack/health` path (LocalStack does not serve it).
 *
 * @param endpoint the emulator's base URL. @default {@link EMULATOR_ENDPOINT}
 * @param timeoutMs the deadline for each request. @default 2000
 * @returns what answers, or `null` when nothing answers at all. Something that answers HTTP but not with a health
 *   document is reported as `unknown` (the port is taken).
 */
export async function probeEmulator(endpoint: string = EMULATOR_ENDPOINT, timeoutMs = 2000): Promise<EmulatorProbe | null> {
  const base = endpoint.replace(/\/+$/, '');
  const health = await getJson(`${base}/_localstack/health`, timeoutMs);
  if (!health) return null;
  const body = isRecord(health.body) ? health.body : undefined;
  if (health.status !== 200 || !body || !isRecord(body.services)) {
    return { kind: 'unknown', endpoint, services: {} };
  }
  const services: Record<string, string> = {};
  for (const [name, state] of Object.entries(body.services)) services[name] = String(state);
  const version = typeof body.version === 'string' ? body.version : undefined;
  const own = await getJson(`${base}/_ministack/health`, timeoutMs);
  const kind: EmulatorKind = own?.status === 200 && isRecord(own.body) && isRecord(own.body.services) ? 'ministack' : 'localstack';
  return { kind, endpoint, version, services };
}

/**
 * The environment a child `cdk` process or an SDK client needs to talk to the emulator at `endpoint`: its endpoint,
 * the conventional `test` credentials (they take precedence over any profile in the SDK's credential chain) and the
 * region. Instance-metadata look-ups are switched off so that nothing waits on a metadata service that is not there.
 */
export function awsEnvFor(endpoint: string = EMULATOR_ENDPOINT): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIAL,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIAL,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/** A line-oriented progress sink. */
export type LogFn = (line: string) => void;

/** The endpoint to use: AWS_ENDPOINT_URL when set, else {@link EMULATOR_ENDPOINT}. */
export function endpointFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.AWS_ENDPOINT_URL ?? EMULATOR_ENDPOINT;
}
