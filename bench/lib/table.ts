/**
 * Prints results as Markdown tables, so that docs/benchmarks.md can quote a run's output verbatim.
 */

export type Align = 'left' | 'right';

export interface Column {
  title: string;
  align?: Align;
}

export function table(columns: readonly (Column | string)[], rows: readonly (readonly string[])[]): string {
  const cols = columns.map((c) => (typeof c === 'string' ? { title: c } : c));
  const widths = cols.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length), 3));
  const cell = (text: string, i: number) => {
    const width = widths[i]!;
    return (cols[i]!.align ?? 'left') === 'right' ? text.padStart(width) : text.padEnd(width);
  };
  const line = (cells: readonly string[]) => `| ${cols.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  // The rule is written the way Prettier formats Markdown tables, so that the docs can quote it verbatim.
  const rule = `| ${cols
    .map((c, i) => (c.align === 'right' ? `${'-'.repeat(widths[i]! - 1)}:` : '-'.repeat(widths[i]!)))
    .join(' | ')} |`;
  return [line(cols.map((c) => c.title)), rule, ...rows.map(line)].join('\n');
}
