/**
 * The functions' credential chain (lambda/adapters/lambda-credentials.ts), which the bundles put in place of
 * `@aws-sdk/credential-provider-node`: it resolves what Lambda gives a function, and it is what the bundles get.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { CREDENTIALS_REFRESH_MARGIN_MS, defaultProvider } from '../../lambda/adapters/lambda-credentials';
import { BUNDLE_ALIASES, PIPELINE_BUNDLING } from '../../lib/constructs/lambda-bundling';

const ROOT = join(__dirname, '..', '..');
const KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CREDENTIAL_EXPIRATION', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'];

describe('Lambda credential chain', () => {
  const saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    for (const k of KEYS) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
  });
  afterEach(() => {
    for (const k of KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  test('resolves the execution role credentials Lambda puts in the environment', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.AWS_SESSION_TOKEN = 'token';
    await expect(defaultProvider()()).resolves.toMatchObject({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' });
  });

  test('without them, falls through to the remote link, which says why it cannot apply', async () => {
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    await expect(defaultProvider()()).rejects.toThrow('EC2 Instance Metadata Service access disabled');
  });

  test('resolves once and keeps the credentials, as the SDK memoizes its own chain (a client asks before every request)', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    const provider = defaultProvider();
    const [a, b] = await Promise.all([provider(), provider()]);
    expect(b).toBe(a);
    process.env.AWS_ACCESS_KEY_ID = 'AKIDROTATED';
    await expect(provider()).resolves.toBe(a);
    // A forced refresh (the SDK's, after an expired-token error) reads them anew.
    await expect(provider({ forceRefresh: true } as never)).resolves.toMatchObject({ accessKeyId: 'AKIDROTATED' });
    await expect(provider()).resolves.toMatchObject({ accessKeyId: 'AKIDROTATED' });
  });

  test('credentials near their expiration are refreshed, expired ones are not handed out', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKID1';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.AWS_CREDENTIAL_EXPIRATION = new Date(Date.now() + CREDENTIALS_REFRESH_MARGIN_MS / 2).toISOString();
    const provider = defaultProvider();
    await expect(provider()).resolves.toMatchObject({ accessKeyId: 'AKID1' });
    process.env.AWS_ACCESS_KEY_ID = 'AKID2';
    process.env.AWS_CREDENTIAL_EXPIRATION = new Date(Date.now() + 3_600_000).toISOString();
    // Still valid: handed out while the refresh runs beside it; the next call gets the new ones.
    await expect(provider()).resolves.toMatchObject({ accessKeyId: 'AKID1' });
    await new Promise((r) => setImmediate(r));
    await expect(provider()).resolves.toMatchObject({ accessKeyId: 'AKID2' });

    process.env.AWS_ACCESS_KEY_ID = 'AKID3';
    process.env.AWS_CREDENTIAL_EXPIRATION = new Date(Date.now() - 1000).toISOString();
    const expiring = defaultProvider();
    await expect(expiring()).resolves.toMatchObject({ accessKeyId: 'AKID3' });
    process.env.AWS_ACCESS_KEY_ID = 'AKID4';
    process.env.AWS_CREDENTIAL_EXPIRATION = new Date(Date.now() + 3_600_000).toISOString();
    await expect(expiring()).resolves.toMatchObject({ accessKeyId: 'AKID4' });
  });

  test('the bundles take it in place of @aws-sdk/credential-provider-node, whose chain then is not in them', async () => {
    const res = await build({
      stdin: { contents: "export { DynamoDBClient } from '@aws-sdk/client-dynamodb';", resolveDir: ROOT, loader: 'ts' },
      bundle: true,
      write: false,
      platform: 'node',
      format: PIPELINE_BUNDLING.format,
      mainFields: [...PIPELINE_BUNDLING.mainFields],
      alias: { ...BUNDLE_ALIASES },
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(res.metafile.inputs);
    expect(inputs.some((p) => p.endsWith(join('lambda', 'adapters', 'lambda-credentials.ts')))).toBe(true);
    expect(inputs.filter((p) => /credential-provider-(node|ini|sso|process|web-identity)\//.test(p))).toStrictEqual([]);
    // The CLI form the construct hands NodejsFunction names the same modules.
    expect(PIPELINE_BUNDLING.esbuildArgs['--alias']).toStrictEqual(Object.entries(BUNDLE_ALIASES).map(([from, to]) => `${from}=${to}`));
    expect(readFileSync(BUNDLE_ALIASES['@aws-sdk/credential-provider-node'], 'utf8')).toContain('export function defaultProvider');
  });
});
