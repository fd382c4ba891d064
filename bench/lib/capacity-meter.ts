/** Capacity units per partition key per simulated second, as DynamoDB bills and limits them (see capacity-store.ts). */
/**
 * On-demand capacity units, as DynamoDB bills them.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
 */
export const WRITE_UNIT_BYTES = 1024;
/** One read unit: a strongly consistent read of up to 4 KB (an eventually consistent one costs half). */
export const READ_UNIT_BYTES = 4096;
/**
 * A partition sustains at most this many write units and read units per second.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html
 */
export const PARTITION_WCU_PER_SECOND = 1_000;
export const PARTITION_RCU_PER_SECOND = 3_000;
/**
 * An on-demand table's default account quota, per second, for reads and for writes.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
 */
export const TABLE_DEFAULT_QUOTA_PER_SECOND = 40_000;

/** Units one partition key took in one second. */
interface Units {
  r: number;
  w: number;
}

/** The busiest second, and its hottest keys, of one side (table or index). */
export interface SideFigures {
  /** Largest write units one partition key took in one second, and which key. */
  hottestWriteKey: string;
  hottestWritesPerSecond: number;
  hottestReadKey: string;
  hottestReadsPerSecond: number;
  /** Largest total units the side took in one second. */
  peakWcuPerSecond: number;
  peakRcuPerSecond: number;
  /** Total units over the run. */
  totalWcu: number;
  totalRcu: number;
}

function emptySide(): SideFigures {
  return { hottestWriteKey: '', hottestWritesPerSecond: 0, hottestReadKey: '', hottestReadsPerSecond: 0, peakWcuPerSecond: 0, peakRcuPerSecond: 0, totalWcu: 0, totalRcu: 0 };
}

/** Counts capacity units per partition key per simulated second, for the table and for its index. */
export class Meter {
  private second = Number.NEGATIVE_INFINITY;
  private current = new Map<string, Units>();
  private sumR = 0;
  private sumW = 0;
  readonly figures = emptySide();

  at(second: number): void {
    if (second !== this.second) {
      this.flush();
      this.second = second;
    }
  }

  read(pk: string, units: number): void {
    this.units(pk).r += units;
    this.sumR += units;
    this.figures.totalRcu += units;
  }

  write(pk: string, units: number): void {
    this.units(pk).w += units;
    this.sumW += units;
    this.figures.totalWcu += units;
  }

  flush(): void {
    const f = this.figures;
    for (const [pk, u] of this.current) {
      if (u.w > f.hottestWritesPerSecond) {
        f.hottestWritesPerSecond = u.w;
        f.hottestWriteKey = pk;
      }
      if (u.r > f.hottestReadsPerSecond) {
        f.hottestReadsPerSecond = u.r;
        f.hottestReadKey = pk;
      }
    }
    f.peakRcuPerSecond = Math.max(f.peakRcuPerSecond, this.sumR);
    f.peakWcuPerSecond = Math.max(f.peakWcuPerSecond, this.sumW);
    this.current = new Map();
    this.sumR = 0;
    this.sumW = 0;
  }

  private units(pk: string): Units {
    let u = this.current.get(pk);
    if (!u) this.current.set(pk, (u = { r: 0, w: 0 }));
    return u;
  }
}

