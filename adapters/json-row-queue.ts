// Rows waiting to be written, held as JSON text in one growable Buffer. Under load an audit event waits up to a
// second for its batch; held as JavaScript objects, thousands of them would survive young-generation collections
// and be copied into the old generation, a cost paid on the request path. Bytes in a Buffer live outside the
// JavaScript heap: the garbage collector neither traces nor copies them.

const INITIAL_BYTES = 256 * 1024;
const COMMA = 0x2c;

export class JsonRowQueue {
  #bytes = Buffer.allocUnsafe(INITIAL_BYTES);
  #used = 0;
  /** Where each row ends in #bytes; every row is followed by one comma, so rows join into a JSON array as they lie. */
  #ends: number[] = [];

  get length(): number {
    return this.#ends.length;
  }

  /** Appends one row, given as JSON text. */
  push(json: string): void {
    // A UTF-16 code unit takes at most three bytes in UTF-8.
    const worst = json.length * 3 + 1;
    if (this.#used + worst > this.#bytes.length) this.#grow(this.#used + worst);
    this.#used += this.#bytes.write(json, this.#used, 'utf8');
    this.#bytes[this.#used++] = COMMA;
    this.#ends.push(this.#used);
  }

  /** The first `count` rows as one JSON array. */
  head(count: number): string {
    if (count < 1 || count > this.length) throw new RangeError(`no ${count} rows to take from ${this.length}`);
    return `[${this.#bytes.toString('utf8', 0, this.#ends[count - 1] - 1)}]`;
  }

  /** Row `index` (0 is the oldest) as JSON text. */
  row(index: number): string {
    if (index < 0 || index >= this.length) throw new RangeError(`no row ${index} among ${this.length}`);
    const start = index === 0 ? 0 : this.#ends[index - 1];
    return this.#bytes.toString('utf8', start, this.#ends[index] - 1);
  }

  /** Removes the first `count` rows. */
  drop(count: number): void {
    if (count < 1) return;
    if (count > this.length) throw new RangeError(`no ${count} rows to drop from ${this.length}`);
    const cut = this.#ends[count - 1];
    this.#bytes.copy(this.#bytes, 0, cut, this.#used);
    this.#used -= cut;
    this.#ends = this.#ends.slice(count).map((end) => end - cut);
    // After an outage the buffer may have grown large; once drained, give that memory back.
    if (this.#used === 0 && this.#bytes.length > INITIAL_BYTES * 16) this.#bytes = Buffer.allocUnsafe(INITIAL_BYTES);
  }

  #grow(needed: number): void {
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#bytes.length * 2));
    this.#bytes.copy(grown, 0, 0, this.#used);
    this.#bytes = grown;
  }
}
