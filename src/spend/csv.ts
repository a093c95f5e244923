/**
 * RFC 4180 CSV cells, safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`,
 * `@`, a tab or a carriage return is prefixed with `'` (OWASP "CSV injection"), so a logged
 * model name or prompt can never become a formula. Written by hand: a dozen lines, where a CSV
 * library would still need this rule added.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(cells: readonly (string | number | boolean | null | undefined)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}
