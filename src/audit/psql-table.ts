// Renders rows as psql's default aligned format (border 1): centered headers, a dashed
// rule with '+' at column breaks, numbers right-aligned, a '+' marking a value that
// continues on the next line, and the "(N rows)" footer. Pure string work.

export interface TableColumn {
  readonly name: string;
  readonly align: 'left' | 'right';
}

export function renderTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string[] {
  const cells = rows.map((row) => columns.map((_, i) => (row[i] ?? '').split('\n')));
  const widths = columns.map((c, i) =>
    Math.max(width(c.name), ...cells.map((row) => Math.max(...(row[i] ?? ['']).map(width)))),
  );
  const lines: string[] = [];
  lines.push(
    ` ${columns.map((c, i) => center(c.name, widths[i] ?? 0)).join(' | ')} `,
  );
  lines.push(widths.map((w) => '-'.repeat(w + 2)).join('+'));
  const last = columns.length - 1;
  for (const row of cells) {
    const height = Math.max(...row.map((parts) => parts.length));
    for (let k = 0; k < height; k++) {
      let line = ' ';
      columns.forEach((c, i) => {
        const parts = row[i] ?? [''];
        const text = parts[k] ?? '';
        const continues = k < parts.length - 1;
        const w = widths[i] ?? 0;
        const fill = ' '.repeat(w - width(text));
        const padded = c.align === 'right' ? fill + text : text + fill;
        if (i < last) line += `${padded}${continues ? '+' : ' '}| `;
        else line += continues ? `${padded}+` : c.align === 'right' ? padded : text;
      });
      lines.push(line);
    }
  }
  lines.push(rows.length === 1 ? '(1 row)' : `(${rows.length} rows)`);
  return lines;
}

function width(text: string): number {
  return [...text].length;
}

function center(text: string, w: number): string {
  const space = w - width(text);
  return ' '.repeat(Math.floor(space / 2)) + text + ' '.repeat(Math.ceil(space / 2));
}
