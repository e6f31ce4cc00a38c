// The order in which the upstream will answer what the relay forwarded, so that
// responses tracegate makes itself (a denial) reach the client in protocol order, and
// so that each DataRow and CommandComplete is attributed to the execution it belongs to.
//
// The upstream answers every forwarded Parse, Bind, Describe, Execute, Close and Sync
// in order; after an ErrorResponse it skips everything up to the next Sync without
// answering. A simple Query is answered by one ReadyForQuery at its end. A synthetic
// entry is released as soon as everything before it has been answered.
import type { FieldDescription } from '../../protocol/index.js';
import type { Execution } from './statement-gate.js';

/** A prepared statement or portal whose RowDescription a Describe will tell. */
export interface Describable {
  fields: readonly FieldDescription[] | null | undefined;
}

export type Pending =
  | { readonly kind: 'query'; readonly executions: Execution[]; index: number }
  // `failed`: the upstream refused it, so the statement or portal it named does not exist.
  | { readonly kind: 'parse'; readonly failed: () => void }
  | { readonly kind: 'bind'; readonly failed: () => void }
  | { readonly kind: 'describe'; readonly target: Describable; readonly swallow: boolean }
  | { readonly kind: 'execute'; readonly execution: Execution; readonly fields: () => readonly FieldDescription[] | null; described: boolean }
  | { readonly kind: 'close' }
  | { readonly kind: 'sync' }
  | { readonly kind: 'synthetic'; readonly frames: () => Buffer[]; readonly extended: boolean };

export class ResponseQueue {
  private items: Pending[] = [];
  private head = 0;
  // Set when the upstream failed an extended-protocol message and no Sync has been
  // queued yet: later extended entries will get no answer, so none is expected.
  private skippingUntilSync = false;

  push(item: Pending): void {
    if (this.skippingUntilSync && item.kind !== 'sync') {
      // The upstream skips it unanswered: it never runs and creates nothing.
      if (item.kind === 'execute') item.execution.abandon('skipped after an error');
      else if (item.kind === 'query') for (const e of item.executions) e.abandon('skipped after an error');
      else if (item.kind === 'parse' || item.kind === 'bind') item.failed();
      return;
    }
    if (item.kind === 'sync') this.skippingUntilSync = false;
    this.items.push(item);
  }

  peek(): Pending | undefined {
    return this.items[this.head];
  }

  shift(): Pending | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.head++;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /**
   * The upstream failed the extended message at the head: drop it and everything after
   * it up to the next Sync (the upstream answers none of them), including synthetic
   * errors, which Postgres would not have sent either.
   */
  failExtended(): Pending[] {
    const dropped: Pending[] = [];
    const first = this.shift();
    if (first) dropped.push(first);
    for (;;) {
      const next = this.peek();
      if (next === undefined) {
        this.skippingUntilSync = true;
        return dropped;
      }
      if (next.kind === 'sync') return dropped;
      dropped.push(next);
      this.shift();
    }
  }

  get length(): number {
    return this.items.length - this.head;
  }

  drain(): Pending[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}
