// Lists read in a terminal as aligned columns, with the cursor of the next page when there is one.

export function formatTable(header: string[], rows: string[][], nextCursor?: string | null): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column].length)));
  const lines = all.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd());
  if (nextCursor) lines.push(`more: --cursor ${nextCursor}`);
  return lines.join('\n');
}

/** `label: value` lines with the values aligned. */
export function formatFields(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}`).join('\n');
}
