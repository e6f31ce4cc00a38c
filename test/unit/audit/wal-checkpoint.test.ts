// The writer checkpoints at 4,000 WAL pages (16 MB) rather than SQLite's 1,000: fewer
// decisions wait for a checkpoint (sqlite-store.ts). The WAL must still stay bounded.
import { statSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import { decision, sessionStart, T0, tempDir } from './helpers.js';

const BODY = 'x'.repeat(2000);

describe('WAL checkpoints', () => {
  test('the writer checkpoints past 16 MB of WAL, not before, and the WAL then starts over', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path });
    try {
      await store.recordSessionStart(sessionStart());
      const fileAtStart = statSync(path).size;
      const sizes: Array<{ file: number; wal: number }> = [];
      // About 45 MB of decisions, 50 to a commit.
      for (let c = 0; c < 400; c++) {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            store.recordDecision(decision({ statementId: `st-${c}-${i}`, at: T0 + c, text: `SELECT '${BODY}' -- ${c}.${i}` })),
          ),
        );
        // The decisions went to the journal; this commits them, 50 to a commit.
        await store.flush();
        sizes.push({ file: statSync(path).size, wal: statSync(`${path}-wal`).size });
      }
      // Past SQLite's default (4 MB of WAL) nothing was checkpointed yet...
      const past4MB = sizes.find((s) => s.wal > 6e6);
      expect(past4MB?.file).toBe(fileAtStart);
      // ...then it was, and the WAL never grew past one checkpoint's worth and a commit.
      expect(sizes.at(-1)?.file).toBeGreaterThan(30e6);
      expect(Math.max(...sizes.map((s) => s.wal))).toBeLessThan(18e6);
    } finally {
      await store.close();
    }
  });
});
