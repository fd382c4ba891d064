import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { sharedFunctionDeps } from '../adapters/function-deps';
import { readCloserEnv } from '../contract/env';
import { PowertoolsLog } from '../adapters/powertools-log';
import { DEADLINE_MARGIN_MS } from '../app/time';
import { closeIdleWindows } from '../app/close-idle-windows';

// Composition root of the scheduled idle-window closer; configuration is checked once at init.
const env = readCloserEnv();
// The service name comes from POWERTOOLS_SERVICE_NAME, set by the stack.
const log = new PowertoolsLog(new Logger());
const deps = {
  ...sharedFunctionDeps(env),
  log,
  pendingStaleAfterMs: env.pendingStaleAfterMs,
  laneIdleTimeoutMs: env.laneIdleTimeoutMs,
};

/** Invoked by an EventBridge schedule; the event carries nothing it needs. */
export const handler = async (_event?: unknown, context?: Context): Promise<void> => {
  const now = Date.now();
  const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
  const stats = await closeIdleWindows(deps, now, remaining === undefined ? undefined : now + Math.max(remaining - DEADLINE_MARGIN_MS, remaining / 2));
  log.info('idle windows closed', { ...stats });
  // Failing the invocation makes the failure visible in the Errors metric; the next run retries it anyway.
  if (stats.emissionFailed) throw new Error('emitting window results failed; the windows stay pending');
};
