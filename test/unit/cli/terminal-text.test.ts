import { describe, expect, test } from 'vitest';
import { terminalSafe } from '../../../src/cli/terminal-text.js';

describe('terminalSafe', () => {
  test('leaves ordinary text alone, Unicode included', () => {
    const text = "SELECT * FROM traces WHERE trace_id = 'tr_000003' -- résumé ✓ 日本";
    expect(terminalSafe(text)).toBe(text);
  });

  test('shows ESC sequences as escapes, so a terminal cannot run them', () => {
    expect(terminalSafe('a\u001b[3A\u001b[2Kb')).toBe('a\\u001b[3A\\u001b[2Kb');
  });

  test('C0 controls, DEL and C1 controls (0x9b is a one-byte CSI)', () => {
    expect(terminalSafe('\u0000\u0007\b\t\n\r\u007f\u0085\u009b')).toBe('\\u0000\\u0007\\u0008\\u0009\\u000a\\u000d\\u007f\\u0085\\u009b');
  });

  test('bidirectional overrides and isolates, which reorder what is displayed', () => {
    expect(terminalSafe('x\u202ey\u2066z\u200f')).toBe('x\\u202ey\\u2066z\\u200f');
  });

  test('over several lines: newline and tab stay, a carriage return does not', () => {
    expect(terminalSafe('SELECT 1\n\tFROM x\r\u001b[2K', true)).toBe('SELECT 1\n\tFROM x\\u000d\\u001b[2K');
  });
});
