import { type WindowDef, windowHopMs, windowSizeMs } from './spec';

/** A window's bounds in epoch milliseconds, half-open: `[start, end)`. */
export interface WindowBounds {
  readonly start: number;
  readonly end: number;
}

/** Window assignment compiled from a window definition. */
export interface WindowAssigner {
  readonly sizeMs: number;
  readonly hopMs: number;
  /** How many windows every event falls into: size / hop (1 for tumbling windows). */
  readonly windowsPerEvent: number;
  /** The start of the latest window containing `ts`; the others start `hopMs` apart before it. */
  lastStart(ts: number): number;
  /** Every window containing `ts`, earliest first. */
  assign(ts: number): WindowBounds[];
}

/**
 * Epoch-aligned windows: starts are multiples of the hop (tumbling windows hop by their size), so every producer and
 * every shard agrees on the same window identities without coordination.
 */
export function compileWindowAssigner(def: WindowDef): WindowAssigner {
  const sizeMs = windowSizeMs(def);
  const hopMs = windowHopMs(def);
  const windowsPerEvent = sizeMs / hopMs;
  const lastStart = (ts: number) => ts - (((ts % hopMs) + hopMs) % hopMs);
  return {
    sizeMs,
    hopMs,
    windowsPerEvent,
    lastStart,
    assign(ts) {
      const last = lastStart(ts);
      const out: WindowBounds[] = [];
      for (let i = windowsPerEvent - 1; i >= 0; i--) {
        const start = last - i * hopMs;
        out.push({ start, end: start + sizeMs });
      }
      return out;
    },
  };
}
