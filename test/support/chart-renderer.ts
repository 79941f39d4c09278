// Renders our Helm chart's templates for tests. The `helm` binary cannot be installed here and no maintained npm
// library renders Go templates, so this implements the small subset the chart uses, and refuses anything else so a
// template that outgrows it fails its test instead of rendering wrong: `{{ .Values.a.b }}`, `.Release.Name`,
// `.Chart.Name`/`.Chart.AppVersion`, `$variables`, `| quote`, `if … end`, `range $key, $value := … end`, and the
// `{{-`/`-}}` whitespace trims.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

type Scope = Record<string, unknown>;
type Node = { text: string } | { output: string } | { if: string; body: Node[] } | { range: { key: string; value: string; of: string }; body: Node[] };

function tokenize(template: string): (string | { action: string })[] {
  const tokens: (string | { action: string })[] = [];
  const pattern = /\{\{(-?)\s*(.*?)\s*(-?)\}\}/gs;
  let last = 0;
  let trimNext = false;
  for (const match of template.matchAll(pattern)) {
    let text = template.slice(last, match.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (match[1] === '-') text = text.replace(/\s+$/, '');
    tokens.push(text, { action: match[2] });
    trimNext = match[3] === '-';
    last = match.index + match[0].length;
  }
  tokens.push(trimNext ? template.slice(last).replace(/^\s+/, '') : template.slice(last));
  return tokens;
}

function parseNodes(tokens: (string | { action: string })[], position = { at: 0 }, nested = false): Node[] {
  const nodes: Node[] = [];
  while (position.at < tokens.length) {
    const token = tokens[position.at++];
    if (typeof token === 'string') { nodes.push({ text: token }); continue; }
    const { action } = token;
    if (action === 'end') {
      if (!nested) throw new Error('{{ end }} without a block');
      return nodes;
    }
    const ifMatch = /^if (.+)$/.exec(action);
    const rangeMatch = /^range (\$\w+), (\$\w+) := (.+)$/.exec(action);
    if (ifMatch) nodes.push({ if: ifMatch[1], body: parseNodes(tokens, position, true) });
    else if (rangeMatch) nodes.push({ range: { key: rangeMatch[1], value: rangeMatch[2], of: rangeMatch[3] }, body: parseNodes(tokens, position, true) });
    else if (/^[.$][\w.$]*( \| quote)?$/.test(action)) nodes.push({ output: action });
    else throw new Error(`template action outside the supported subset: {{ ${action} }}`);
  }
  if (nested) throw new Error('a block without {{ end }}');
  return nodes;
}

function evaluate(expression: string, scope: Scope): unknown {
  const [path, ...filters] = expression.split('|').map((part) => part.trim());
  const [head, ...rest] = path.split('.');
  let value: unknown = head === '' ? scope : scope[head];
  for (const key of rest) {
    if (value === undefined || value === null) break;
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined) throw new Error(`${path} has no value`);
  for (const filter of filters) {
    if (filter !== 'quote') throw new Error(`unsupported filter ${filter}`);
    value = JSON.stringify(String(value));
  }
  return value;
}

function render(nodes: Node[], scope: Scope): string {
  return nodes.map((node) => {
    if ('text' in node) return node.text;
    if ('output' in node) return String(evaluate(node.output, scope));
    if ('if' in node) return evaluate(node.if, scope) ? render(node.body, scope) : '';
    const entries = Object.entries(evaluate(node.range.of, scope) as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return entries.map(([key, value]) => render(node.body, { ...scope, [node.range.key]: key, [node.range.value]: value })).join('');
  }).join('');
}

/** Every template of the chart rendered with its values (overridden by `values`), parsed as YAML documents. */
export function renderChart(chartDir: string, release: string, values: Record<string, unknown> = {}): Record<string, any>[] {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { name: string; appVersion: string };
  const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const scope: Scope = { Values: { ...defaults, ...values }, Release: { Name: release }, Chart: { Name: chart.name, AppVersion: chart.appVersion } };
  const templates = readdirSync(join(chartDir, 'templates')).filter((file) => file.endsWith('.yaml')).sort();
  return templates
    .map((file) => render(parseNodes(tokenize(readFileSync(join(chartDir, 'templates', file), 'utf8'))), scope))
    .filter((rendered) => rendered.trim() !== '')
    .map((rendered) => parse(rendered) as Record<string, any>);
}
