// How `ssm-agent-operator diagnose` prints a diagnosis: one screen, plain text, aligned columns; colour only when
// asked (a TTY without NO_COLOR), so that piped or logged output stays readable. Pure.
import type { DiagnosedProbe, NodeDiagnosis, NodeSummary } from '../diagnose/report.ts';

export interface FormatOptions {
  color: boolean;
  /** For "probed 3 s ago"; default the diagnosis' own times are printed as they are. */
  now?: Date;
}

const CODES = { red: 31, green: 32, yellow: 33, bold: 1, dim: 2 } as const;
type Paint = (text: string, style: keyof typeof CODES) => string;
const painter = (color: boolean): Paint => (text, style) => (color ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text);

/** Pads to a width, counting what is visible (not escape codes). */
function pad(text: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const visible = text.replace(/\u001b\[[0-9;]*m/g, '').length;
  return visible >= width ? `${text} ` : text + ' '.repeat(width - visible);
}

function ms(seconds: number | undefined): string {
  if (seconds === undefined) return '';
  const m = seconds * 1000;
  return m < 10 ? `${m.toFixed(1)} ms` : `${Math.round(m)} ms`;
}

function ago(at: string | undefined, now: Date | undefined): string {
  if (!at) return 'never';
  if (!now) return at;
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));
  return s < 120 ? `${at} (${s} s ago)` : s < 7200 ? `${at} (${Math.round(s / 60)} min ago)` : `${at} (${Math.round(s / 3600)} h ago)`;
}

const PHASES = ['dns', 'tcp', 'tls', 'http'] as const;
const WIDTH = 120;

/** Word-wraps text after an indent, so a long fix or error stays on screen; very long text is cut. */
export function wrap(indent: string, text: string, max = 400): string[] {
  const words = (text.length > max ? `${text.slice(0, max - 1)}…` : text).split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let current = '';
  for (const w of words) {
    if (current && indent.length + current.length + 1 + w.length > WIDTH) {
      lines.push(indent + current);
      current = w;
    } else current = current ? `${current} ${w}` : w;
  }
  if (current) lines.push(indent + current);
  return lines;
}

/** Each phase's cell: its time, `FAIL` where a failed probe stopped, `-` for what never ran. */
export function phaseCells(p: DiagnosedProbe): string[] {
  if (!p.phases) return PHASES.map(() => '?');
  let failedAt = -1;
  if (!p.ok) failedAt = PHASES.findIndex((ph) => p.phases?.[ph] === undefined);
  return PHASES.map((ph, i) => {
    const t = p.phases?.[ph];
    if (t !== undefined) return ms(t);
    return i === failedAt ? 'FAIL' : '-';
  });
}

export function formatDiagnosis(d: NodeDiagnosis, opts: FormatOptions): string {
  const c = painter(opts.color);
  const out: string[] = [];
  const line = (label: string, text: string) => out.push(`${pad(label, 14)}${text}`);
  const probeState =
    d.probe === 'fresh' ? 'probed just now' : d.probe === 'stale' ? c('asked for a probe, no answer in time: probes below are the last ones reported', 'yellow') : 'probes as last reported';
  line('Node', `${c(d.node, 'bold')}  config ${d.config ?? '-'}, node agent ${d.nodeAgentVersion ?? '?'}, ${d.connected ? 'connected' : c('NOT CONNECTED', 'red')}; ${probeState}`);
  if (d.externallyManaged === 'nodeadm') {
    line('Managed by', 'nodeadm (EKS Hybrid Nodes): the agent and its registration are adopted — reported, never reinstalled, re-registered or deregistered');
  }
  const f = d.facts;
  if (f) {
    const os = f.os?.prettyName || (f.os ? `${f.os.id} ${f.os.versionId}` : 'unknown OS');
    line('Host', [os, f.arch ?? '?', f.packageManager ?? 'no package manager', f.ec2 ? 'EC2' : 'not EC2'].join(', '));
    if (f.unsupported) line('', c(`unsupported: ${f.unsupported.reason}: ${f.unsupported.message}`, 'red'));
  } else line('Host', 'no report yet');
  const installed = d.observation?.version ?? f?.installedVersion;
  const versionMatch = installed && f?.desiredVersion && installed !== f.desiredVersion ? c(` (desired ${f.desiredVersion})`, 'yellow') : f?.desiredVersion ? ` (desired ${f.desiredVersion})` : '';
  const service = d.observation ? (d.observation.serviceActive ? c('service active', 'green') : c('service NOT active', 'red')) : 'service state unknown';
  line('Agent', `${installed ? `amazon-ssm-agent ${installed}` : c('not installed', 'red')}${versionMatch}, ${service}`);
  const r = d.registration;
  const agrees = r.annotation === undefined ? 'Node not annotated yet' : r.annotation === r.instanceId ? 'the Node annotation agrees' : c(`the Node annotation says ${r.annotation}`, 'yellow');
  line('Registration', r.instanceId ? `${r.instanceId}${r.region ? ` in ${r.region}` : ''} (${r.kind ?? 'unknown kind'}); ${agrees}` : c('not registered', 'red'));
  line('Last pass', `${ago(d.lastPass, opts.now)}; last probes ${ago(d.lastProbes, opts.now)}`);

  out.push('', c('Steps', 'bold'));
  if (d.steps.length === 0) out.push('  none reported yet');
  const stepWidth = Math.max(12, ...d.steps.map((s) => s.step.length + 2));
  for (const s of d.steps) {
    const bad = s.status === 'failed' || s.status === 'unsupported';
    const st = bad ? c(s.status.toUpperCase(), 'red') : s.status === 'skipped' ? c(s.status, 'dim') : c(s.status, 'green');
    const detail = [s.reason, s.message].filter(Boolean).join(': ');
    out.push(`  ${pad(s.step, stepWidth)}${pad(st, 11)}${detail}`);
    if (s.fix) out.push(...wrap(`  ${pad('', stepWidth)}${pad('', 11)}`, `fix: ${s.fix}`));
  }

  out.push('', `${c('Endpoints', 'bold')}`);
  if (d.probes.length === 0) out.push('  no probe reported yet');
  else {
    const hostWidth = Math.max(6, ...d.probes.map((p) => p.host.length + 2));
    out.push(`  ${pad('', 13)}${pad('host', hostWidth)}${pad('via', 8)}${PHASES.map((p) => pad(p, 9)).join('')}result`);
    for (const p of d.probes) {
      const result = p.ok ? c(`ok${p.httpStatus ? ` (HTTP ${p.httpStatus})` : ''}`, 'green') : c(`FAIL ${p.reason ?? ''}`.trim(), 'red');
      out.push(`  ${pad(p.endpoint, 13)}${pad(p.host, hostWidth)}${pad(p.via, 8)}${phaseCells(p).map((x) => pad(x, 9)).join('')}${result}`);
      const indent = `  ${pad('', 13)}`;
      if (p.via === 'proxy' && p.proxy) out.push(`${indent}through ${p.proxy}`);
      if (p.noProxyMatch) out.push(`${indent}direct: no_proxy entry ${p.noProxyMatch}`);
      if (!p.ok && p.message) out.push(...wrap(indent, p.message));
      if (p.fix) out.push(...wrap(indent, `fix: ${p.fix}`));
    }
    if (d.probes.some((p) => !p.phases)) out.push('  (? : this node agent does not report phase times; upgrade it)');
  }
  return `${out.map((l) => l.trimEnd()).join('\n')}\n`;
}

/** `--all`: one line per node, the failing ones first, then a count. */
export function formatSummaries(nodes: readonly NodeSummary[], opts: FormatOptions): string {
  const c = painter(opts.color);
  const sorted = [...nodes].sort((a, b) => Number(b.problems.length > 0) - Number(a.problems.length > 0) || a.node.localeCompare(b.node));
  const w = {
    node: Math.max(6, ...sorted.map((n) => n.node.length + 2)),
    config: Math.max(8, ...sorted.map((n) => (n.config ?? '-').length + 2)),
    agent: Math.max(7, ...sorted.map((n) => (n.agentVersion ?? '-').length + 2)),
    instance: Math.max(10, ...sorted.map((n) => (n.instanceId ?? '-').length + 2)),
  };
  const out = [`${pad('NODE', w.node)}${pad('CONFIG', w.config)}${pad('AGENT', w.agent)}${pad('INSTANCE', w.instance)}STATE`];
  for (const n of sorted) {
    const state =
      n.problems.length > 0
        ? c(`FAILING: ${n.problems.join('; ')}`, 'red')
        : n.config === undefined
          ? c('no node agent', 'dim')
          : c(n.externallyManaged ? 'ok (adopted from nodeadm)' : 'ok', 'green');
    out.push(`${pad(n.node, w.node)}${pad(n.config ?? '-', w.config)}${pad(n.agentVersion ?? '-', w.agent)}${pad(n.instanceId ?? '-', w.instance)}${state}`);
  }
  const failing = nodes.filter((n) => n.problems.length > 0).length;
  const unmanaged = nodes.filter((n) => n.problems.length === 0 && n.config === undefined).length;
  out.push(`${nodes.length} nodes: ${failing} failing, ${nodes.length - failing - unmanaged} ok${unmanaged ? `, ${unmanaged} without a node agent` : ''}`);
  return `${out.map((l) => l.trimEnd()).join('\n')}\n`;
}
