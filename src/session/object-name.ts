// The identity Postgres gives a prepared statement or portal name. Both live in
// dynahash tables keyed by NAMEDATALEN (64) bytes with HASH_STRINGS, whose compare is
// strncmp(a, b, 63): two names that share their first 63 bytes are ONE statement (or
// portal) upstream, whatever follows. The relay's maps must use the same identity, or
// it decides a Bind on the text it recorded for one name while the upstream runs the
// text it holds under the other (test/integration/hardening/long-object-names.test.ts).
//
// The key is the first 63 bytes of the name's UTF-8, one char per byte (latin1), so
// that it is equal for two names exactly when those bytes are: a byte-level prefix may
// end inside a multi-byte character, and a short non-ASCII name must not compare equal
// to a longer name's prefix by its characters rather than its bytes.
const NAME_KEY_BYTES = 63;
const ASCII = /^[\x00-\x7f]*$/;

export function objectNameKey(name: string): string {
  // ASCII: one byte per character, and latin1 of those bytes is the name itself.
  if (ASCII.test(name)) return name.length > NAME_KEY_BYTES ? name.slice(0, NAME_KEY_BYTES) : name;
  return Buffer.from(name, 'utf8').subarray(0, NAME_KEY_BYTES).toString('latin1');
}

/** A Map from statement or portal names, holding one entry per name as Postgres tells them apart. */
export class ObjectNameMap<T> {
  private readonly map = new Map<string, T>();

  get(name: string): T | undefined {
    return this.map.get(objectNameKey(name));
  }

  has(name: string): boolean {
    return this.map.has(objectNameKey(name));
  }

  set(name: string, value: T): void {
    this.map.set(objectNameKey(name), value);
  }

  delete(name: string): void {
    this.map.delete(objectNameKey(name));
  }

  /** Removes `name`'s entry if it is still `value` (a later one may have replaced it). */
  forget(name: string, value: T): void {
    const key = objectNameKey(name);
    if (this.map.get(key) === value) this.map.delete(key);
  }

  deleteWhere(drop: (value: T) => boolean): void {
    for (const [key, value] of this.map) if (drop(value)) this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
