/**
 * Window results read back from window-table items, for the tools (`pipeline query`, the live status of `npm start`).
 * A window's state takes one of three layouts (README "Exactly-once"), and each reads differently:
 * - `single`: the window's item holds its state;
 * - `per-shard`: the root item holds the snapshot of the last version fired, and each lane's partial item holds that
 *   lane's part; until the window fires (or while a correction waits for the closer) only the partials are current;
 * - session and stagger: one item per key holds all of that key's windows.
 * One function for the three, so that no tool shows a window empty that the pipeline holds.
 */
import { KEY_WINDOWS_SK, keyWindowSetOf } from '../../lambda/adapters/dynamodb-key-window-store';
import { parsePartialItem, parseWindowItem, windowPk } from '../../lambda/adapters/window-items';
import { ATTR } from '../../lambda/contract/window-table-layout';
import { emptyState, mergeInto } from '../../lambda/domain/aggregate-state';
import type { CompiledSpec } from '../../lambda/domain/compiled-spec';
import { keyWindowResult } from '../../lambda/domain/key-window-result';
import type { StoredPartial, StoredWindow } from '../../lambda/domain/window-lifecycle';
import { refId, type WindowRef } from '../../lambda/domain/window-ref';
import { toWindowResult, type WindowResult } from '../../lambda/domain/window-result';

/** A per-shard window as its items tell it: the root (absent until a lane registers) and the lanes' partials. */
interface PerShardWindow {
  ref: WindowRef;
  root?: StoredWindow;
  readonly partials: { lane: string; stored: StoredPartial }[];
}

/**
 * The results of every window the items hold, of the spec's aggregations, in no particular order. Items of other
 * kinds (lanes, aggregations no longer in the spec) are skipped.
 *
 * A per-shard window reads as its root's snapshot when that is current: the root has fired and no partial changed
 * since (none is `dirty`). Otherwise, an open window or a correction not yet fired, it reads as the merge of its
 * partials, as its next firing will: the measures are live, the version stays the last one fired.
 */
export function windowResultsOfItems(spec: CompiledSpec, items: Iterable<Record<string, unknown>>): WindowResult[] {
  const out: WindowResult[] = [];
  // `spec.byName` holds the window-assigned aggregations only; session and stagger ones are read here too.
  const byName = new Map(spec.allAggregations.map((a) => [a.name, a]));
  const perShard = new Map<string, PerShardWindow>();
  const perShardOf = (ref: WindowRef) => {
    const id = refId(ref);
    let w = perShard.get(id);
    if (!w) perShard.set(id, (w = { ref, partials: [] }));
    return w;
  };
  for (const item of items) {
    const aggAttr = item[ATTR.aggregation];
    const agg = byName.get(typeof aggAttr === 'string' ? aggAttr : '');
    if (!agg) continue;
    if (agg.keyRule) {
      if (item[ATTR.sk] !== KEY_WINDOWS_SK) continue;
      const keyJson = String(item[ATTR.pk]).slice(windowPk(agg.name, '').length);
      for (const w of keyWindowSetOf(agg, item).windows) out.push(keyWindowResult(agg, keyJson, w));
      continue;
    }
    const partial = parsePartialItem(spec, item);
    if (partial) {
      perShardOf(partial.ref).partials.push({ lane: partial.lane, stored: partial.stored });
      continue;
    }
    const w = parseWindowItem(spec, item);
    if (!w) continue;
    if (agg.perShard) perShardOf(w.ref).root = w.stored;
    else out.push(toWindowResult(w.ref, w.stored));
  }
  for (const w of perShard.values()) out.push(toWindowResult(w.ref, currentStateOf(w)));
  return out;
}

/** A per-shard window's current state (see {@link windowResultsOfItems}). */
function currentStateOf(w: PerShardWindow): StoredWindow {
  const root: StoredWindow = w.root ?? { state: emptyState(w.ref.aggregation.layout), fences: {}, version: 0, pending: true, rev: 0 };
  if (w.partials.length === 0 || (root.version > 0 && !w.partials.some((p) => p.stored.dirty))) return root;
  const layout = w.ref.aggregation.layout;
  const state = emptyState(layout);
  // Lane order, so that a floating-point sum reads the same on every call.
  for (const p of [...w.partials].sort((a, b) => (a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0))) mergeInto(layout, state, p.stored.state);
  return { ...root, state };
}
