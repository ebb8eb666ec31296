// The compiler's process-wide caches (a built kernel per source or structure) hold at most a fixed number
// of entries, the least recently used dropped first, so a process that compiles graph after graph (a
// server, a sweep) keeps the kernels it goes on using and not every one it ever built. A program holds
// its own kernels, so dropping an entry only means the next equal kernel is built again.
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The entry for `key`, now the most recently used. */
  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): this {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value as K);
    return this;
  }
}

/** Entries per cache: the T=64 DRAW step builds about 1,500 distinct kernels. */
export const KERNEL_CACHE_LIMIT = 8192;
