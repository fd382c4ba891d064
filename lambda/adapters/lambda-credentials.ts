import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { ENV_CMDS_FULL_URI, ENV_CMDS_RELATIVE_URI, fromContainerMetadata, fromInstanceMetadata } from '@smithy/credential-provider-imds';

/**
 * The SDK clients' default credential provider, as the functions' bundles build it: it stands in for
 * `@aws-sdk/credential-provider-node` (an esbuild alias, `BUNDLE_ALIASES` in lib/constructs/lambda-bundling.ts).
 *
 * Why: that package's chain also tries SSO, shared config files, a credential process and a web-identity token file,
 * each behind a dynamic `import()` that brought the SSO, OIDC, STS and sign-in clients into the bundle (about 130 KiB),
 * and made esbuild wrap every SDK module they share with the clients, so that none of them was tree-shaken (P4). None
 * of those sources exists where the functions run: Lambda hands the execution role's credentials to the function in
 * environment variables. This chain keeps the links that can apply there, in the SDK's order and with its providers:
 * the environment, then the container credentials endpoint when one is configured, else the instance metadata service
 * (unless disabled), exactly as the SDK's `remoteProvider` picks them.
 */

type EnvInit = NonNullable<Parameters<typeof fromEnv>[0]>;
type HttpInit = Parameters<typeof fromHttp>[0];
type RemoteInit = NonNullable<Parameters<typeof fromInstanceMetadata>[0]>;
/** The options the SDK clients pass (a subset of `DefaultProviderInit`: the ones these links read). */
export type LambdaCredentialsInit = EnvInit & HttpInit & RemoteInit;
type Provider = ReturnType<typeof fromEnv>;

/** The SDK's switch to turn the instance metadata service off (`remoteProvider`'s ENV_IMDS_DISABLED). */
const ENV_IMDS_DISABLED = 'AWS_EC2_METADATA_DISABLED';

/** Whether a provider's error lets the chain try the next link (the SDK's `CredentialsProviderError.tryNextLink`). */
function tryNext(e: unknown): boolean {
  return (e as { tryNextLink?: boolean } | undefined)?.tryNextLink === true;
}

/** Tries each provider in turn, moving on only when one says it does not apply (the SDK's `chain`). */
function chain(...providers: Provider[]): Provider {
  return async (props) => {
    let last: unknown;
    for (const p of providers) {
      try {
        return await p(props);
      } catch (e) {
        if (!tryNext(e)) throw e;
        last = e;
      }
    }
    throw last;
  };
}

/** The SDK's `remoteProvider`: the container endpoint when the environment names one, else the instance metadata. */
function remoteProvider(init: LambdaCredentialsInit): Provider {
  if (process.env[ENV_CMDS_RELATIVE_URI] || process.env[ENV_CMDS_FULL_URI]) return chain(fromHttp(init), fromContainerMetadata(init));
  if (process.env[ENV_IMDS_DISABLED] && process.env[ENV_IMDS_DISABLED] !== 'false') {
    return () => Promise.reject(Object.assign(new Error('EC2 Instance Metadata Service access disabled'), { tryNextLink: true }));
  }
  return fromInstanceMetadata(init);
}

/** Within this long of their expiration, credentials are refreshed (the SDK's `credentialsTreatedAsExpired`). */
export const CREDENTIALS_REFRESH_MARGIN_MS = 300_000;

type Credentials = Awaited<ReturnType<Provider>>;

/**
 * The SDK's `memoizeChain`: a client calls its default provider before every request and, for a default provider,
 * does not memoize it itself (it trusts `@aws-sdk/credential-provider-node`'s to be memoized). Unmemoized, the chain
 * read the environment and built new credentials for every request. Here, as in the SDK: credentials are kept until
 * they expire; within {@link CREDENTIALS_REFRESH_MARGIN_MS} of that they are still handed out while a refresh runs
 * in the background; concurrent first calls share one resolution; `forceRefresh` resolves anew.
 */
function memoize(resolve: Provider): Provider {
  let credentials: Credentials | undefined;
  let active: Promise<void> | undefined;
  let passive: Promise<void> | undefined;
  let forced: Promise<void> | undefined;
  const provider: Provider = async (props) => {
    if ((props as { forceRefresh?: boolean } | undefined)?.forceRefresh) {
      forced ??= resolve(props)
        .then((c) => void (credentials = c))
        .finally(() => (forced = undefined));
      await forced;
      return credentials!;
    }
    const expiresAt = credentials?.expiration?.getTime();
    if (expiresAt !== undefined && expiresAt < Date.now()) credentials = undefined;
    if (active) {
      await active;
      return credentials!;
    }
    if (!credentials) {
      active = resolve(props)
        .then((c) => void (credentials = c))
        .finally(() => (active = undefined));
      await active;
      return credentials!;
    }
    if (expiresAt !== undefined && expiresAt - Date.now() < CREDENTIALS_REFRESH_MARGIN_MS) {
      passive ??= resolve(props)
        .then((c) => void (credentials = c))
        .catch(() => undefined)
        .finally(() => (passive = undefined));
    }
    return credentials;
  };
  return provider;
}

/**
 * The credential provider every SDK client of the bundle uses by default (the name and signature of
 * `@aws-sdk/credential-provider-node`'s export, which the clients import), memoized as that one is. The remote link is
 * chosen on its first use, as the SDK chooses it.
 */
export function defaultProvider(init: LambdaCredentialsInit = {}): Provider {
  let remote: Provider | undefined;
  return memoize(chain(fromEnv(init), (props) => (remote ??= remoteProvider(init))(props)));
}
