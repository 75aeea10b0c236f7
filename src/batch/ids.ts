/**
 * The `custom_id`s of a run, in a compact table outside the JavaScript heap (see {@link IdRegistry}).
 */

/**
 * The `custom_id`s a run knows: those an earlier run finished (read by `--resume`) and those seen on the
 * lines of the input so far. One table holds both, so each id is stored once.
 *
 * The ids live outside the JavaScript heap — their UTF-8 bytes in one growing buffer, an open-addressing
 * hash table and per-id fields in typed arrays, compared byte for byte on a hash match (exact, no
 * collision risk) — about 40 bytes per id. Kept as a million strings in a `Map` they would cost about
 * 100 bytes each and, worse, a large live heap lets the garbage collector grow the heap to several times
 * its size (a 1,000,000-line run peaked at 400 MB that way).
 */
export class IdRegistry {
  #arena = Buffer.allocUnsafe(64 * 1024);
  #arenaUsed = 0;
  #scratch = Buffer.allocUnsafe(256);
  #count = 0;
  #hashes = new Int32Array(1024);
  #offsets = new Int32Array(1024);
  #lengths = new Int32Array(1024);
  // 0: finished earlier, not yet seen in the input; n > 0: first seen on line n;
  // n < 0: finished earlier and first seen on line −n.
  #states = new Int32Array(1024);
  /** Entry index + 1 per slot, 0 when empty; kept at most half full. */
  #slots = new Int32Array(2048);
  #finished = 0;

  /**
   * Makes room for `ids` ids in one step (the line count, when known), so the table does not grow by
   * steps that briefly hold two copies.
   */
  reserve(ids: number): void {
    if (ids > this.#hashes.length) this.#growEntries(ids);
    let slots = this.#slots.length;
    while (slots < ids * 2) slots *= 2;
    if (slots > this.#slots.length) this.#rehash(slots);
  }

  /** Whether an earlier run finished `id`. */
  has(id: string): boolean {
    const e = this.#find(id);
    return e !== -1 && this.#states[e]! <= 0;
  }

  /** Marks `id` finished by an earlier run (before the input is read). */
  add(id: string): void {
    const e = this.#find(id, 0);
    if (!this.#inserted) {
      const v = this.#states[e]!;
      if (v <= 0) return;
      this.#states[e] = -v;
    }
    this.#finished++;
  }

  /** How many ids earlier runs finished. */
  get size(): number {
    return this.#finished;
  }

  /** The finished ids (tests, small files). */
  *finished(): IterableIterator<string> {
    for (let e = 0; e < this.#count; e++) {
      if (this.#states[e]! <= 0) {
        const offset = this.#offsets[e]!;
        yield this.#arena.toString('utf8', offset, offset + this.#lengths[e]!);
      }
    }
  }

  /**
   * Records that `id` is on `line`. Returns the line it was first seen on when this is a repeat, and
   * whether an earlier run finished it.
   */
  see(id: string, line: number): { firstLine: number | undefined; finished: boolean } {
    const e = this.#find(id, line);
    if (this.#inserted) return { firstLine: undefined, finished: false };
    const v = this.#states[e]!;
    if (v === 0) {
      this.#states[e] = -line;
      return { firstLine: undefined, finished: true };
    }
    return { firstLine: Math.abs(v), finished: v < 0 };
  }

  /** Whether the last `#find` added its id. */
  #inserted = false;

  /** The entry of `id`, or −1 when absent; with `insertState`, adds an absent id with that state. */
  #find(id: string, insertState?: number): number {
    this.#inserted = false;
    const length = Buffer.byteLength(id, 'utf8');
    if (length > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(length * 2);
    const bytes = this.#scratch;
    bytes.write(id, 0, length, 'utf8');
    // FNV-1a over the UTF-8 bytes.
    let hash = 0x811c9dc5 | 0;
    for (let i = 0; i < length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
    const mask = this.#slots.length - 1;
    let slot = hash & mask;
    for (;;) {
      const entry = this.#slots[slot]! - 1;
      if (entry === -1) break;
      if (this.#hashes[entry] === hash && this.#lengths[entry] === length) {
        const offset = this.#offsets[entry]!;
        if (bytes.compare(this.#arena, offset, offset + length, 0, length) === 0) return entry;
      }
      slot = (slot + 1) & mask;
    }
    if (insertState === undefined) return -1;

    if (this.#arenaUsed + length > 0x7fffffff) {
      throw new RangeError('More than 2 GB of custom_id text: split the file.');
    }
    if (this.#arenaUsed + length > this.#arena.length) {
      const size = Math.max(this.#arena.length * 1.5, this.#arenaUsed + length);
      const grown = Buffer.allocUnsafe(Math.min(0x7fffffff, Math.floor(size)));
      this.#arena.copy(grown, 0, 0, this.#arenaUsed);
      this.#arena = grown;
    }
    bytes.copy(this.#arena, this.#arenaUsed, 0, length);
    const entry = this.#count++;
    if (entry >= this.#hashes.length) this.#growEntries();
    this.#hashes[entry] = hash;
    this.#offsets[entry] = this.#arenaUsed;
    this.#lengths[entry] = length;
    this.#states[entry] = insertState;
    this.#arenaUsed += length;
    this.#slots[slot] = entry + 1;
    if (this.#count * 2 > this.#slots.length) this.#rehash();
    this.#inserted = true;
    return entry;
  }

  #growEntries(size = Math.ceil(this.#hashes.length * 1.5)): void {
    const grow = (old: Int32Array) => {
      const next = new Int32Array(size);
      next.set(old.subarray(0, this.#count));
      return next;
    };
    this.#hashes = grow(this.#hashes);
    this.#offsets = grow(this.#offsets);
    this.#lengths = grow(this.#lengths);
    this.#states = grow(this.#states);
  }

  #rehash(size = this.#slots.length * 2): void {
    const slots = new Int32Array(size);
    const mask = slots.length - 1;
    for (let entry = 0; entry < this.#count; entry++) {
      let slot = this.#hashes[entry]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = entry + 1;
    }
    this.#slots = slots;
  }
}
