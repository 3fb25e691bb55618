// A time-series chart (uPlot on a canvas) with its text alternative: the figure's caption says
// what is drawn and summarises each series (count, period, latest, lowest, highest), and a
// disclosure shows the latest values as a table. The canvas itself is hidden from assistive
// technology; the legend is HTML.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtDateTime, fmtNumber, s } from '../i18n';

export interface Point { t: number; v: number } // t: ms since the epoch
export interface SeriesData { label: string; unit?: string; points: Point[] }
export interface Threshold { value: number; label: string }

// Colours with at least 4.5:1 against white (graphics need 3:1).
const COLOURS = ['#0b5394', '#a34700', '#2d6a1f', '#7a1f7a'];

interface Props {
  id: string;
  title: string;
  series: SeriesData[];
  thresholds?: Threshold[]; // horizontal lines with labels (NEWS2's 5 and 7)
  bands?: { from: number; label: string }[]; // labels at the left edge
  thresholdText?: string; // the thresholds in words, for the caption
  yMin?: number;
  yMax?: number;
  height?: number;
  tableRows?: number;
}

/** Aligns the series on one time axis (uPlot's data shape), in seconds. */
function align(series: SeriesData[]): uPlot.AlignedData {
  const times = new Set<number>();
  for (const sr of series) for (const p of sr.points) times.add(p.t);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const ys = series.map((sr) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    for (const p of sr.points) col[index.get(p.t)!] = p.v;
    return col;
  });
  return [xs.map((t) => t / 1000), ...ys];
}

function thresholdPlugin(thresholds: Threshold[], bands: { from: number; label: string }[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        const px = devicePixelRatio || 1;
        ctx.save();
        ctx.font = `${12 * px}px system-ui, sans-serif`;
        ctx.textBaseline = 'bottom';
        for (const th of thresholds) {
          const y = Math.round(u.valToPos(th.value, 'y', true));
          if (y < top || y > top + height) continue;
          ctx.strokeStyle = '#8a1c1c';
          ctx.lineWidth = 1.5 * px;
          ctx.setLineDash([6 * px, 4 * px]);
          ctx.beginPath();
          ctx.moveTo(left, y);
          ctx.lineTo(left + width, y);
          ctx.stroke();
          ctx.fillStyle = '#8a1c1c';
          ctx.textAlign = 'right';
          ctx.fillText(th.label, left + width - 4 * px, y - 2 * px);
        }
        ctx.setLineDash([]);
        ctx.fillStyle = '#3d3d3d';
        ctx.textAlign = 'left';
        for (const b of bands) {
          const y = Math.round(u.valToPos(b.from, 'y', true));
          if (y < top || y > top + height) continue;
          ctx.fillText(b.label, left + 4 * px, y - 2 * px);
        }
        ctx.restore();
      },
    },
  };
}

function summarise(series: SeriesData[]): string[] {
  const times = new Set(series.flatMap((sr) => sr.points.map((p) => p.t)));
  if (times.size === 0) return [s().noMeasurements];
  let from = Infinity;
  let to = -Infinity;
  for (const t of times) { from = Math.min(from, t); to = Math.max(to, t); }
  const lines = [s().chartSummary(times.size, fmtDateTime(from), fmtDateTime(to))];
  for (const sr of series) {
    if (sr.points.length === 0) continue;
    let min = sr.points[0]!;
    let max = sr.points[0]!;
    let latest = sr.points[0]!;
    for (const p of sr.points) {
      if (p.v < min.v) min = p;
      if (p.v > max.v) max = p;
      if (p.t > latest.t) latest = p;
    }
    const f = (p: Point) => `${fmtNumber(p.v)}${sr.unit ? ` ${sr.unit}` : ''}`;
    lines.push(s().seriesSummary(sr.label, f(latest), f(min), f(max)));
  }
  return lines;
}

export function Chart({ id, title, series, thresholds = [], bands = [], thresholdText, yMin, yMax,
  height = 240, tableRows = 50 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [showTable, setShowTable] = useState(false);
  const data = useMemo(() => align(series), [series]);
  const empty = series.every((sr) => sr.points.length === 0);
  const key = series.map((sr) => sr.label).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el || empty) return;
    const few = (data[0] as number[]).length < 60;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: yMin !== undefined || yMax !== undefined
          ? { range: (_u, lo, hi) => [Math.min(yMin ?? lo, lo), Math.max(yMax ?? hi, hi)] }
          : {},
      },
      axes: [
        { stroke: '#1a1a1a', grid: { stroke: '#e2e2e2' }, ticks: { stroke: '#9a9a9a' } },
        { stroke: '#1a1a1a', grid: { stroke: '#e2e2e2' }, ticks: { stroke: '#9a9a9a' }, size: 50 },
      ],
      series: [
        {},
        ...series.map((sr, i) => ({
          label: sr.label,
          stroke: COLOURS[i % COLOURS.length],
          width: 2,
          spanGaps: true,
          points: { show: few, size: 5 },
        })),
      ],
      plugins: thresholds.length || bands.length ? [thresholdPlugin(thresholds, bands)] : [],
    };
    plot.current = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(280, el.clientWidth), height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [data, key, empty, height]);

  const summary = summarise(series);
  const rows = useMemo(() => {
    if (!showTable) return [];
    const xs = data[0] as number[];
    const out: { t: number; values: (number | null)[] }[] = [];
    for (let i = xs.length - 1; i >= 0 && out.length < tableRows; i--) {
      out.push({ t: xs[i]! * 1000, values: series.map((_, j) => (data[j + 1] as (number | null)[])[i] ?? null) });
    }
    return out;
  }, [showTable, data, series, tableRows]);

  return (
    <figure class="chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>
        <strong class="chart-title">{title}</strong>
        {summary.map((line) => <span class="chart-summary" key={line}>{line}</span>)}
        {thresholdText && !empty && <span class="chart-summary">{thresholdText}</span>}
      </figcaption>
      {!empty && (
        <>
          <ul class="legend">
            {series.map((sr, i) => (
              <li key={sr.label}>
                <span class={`swatch swatch-${i % COLOURS.length}`} aria-hidden="true" />
                {sr.label}{sr.unit ? ` (${sr.unit})` : ''}
              </li>
            ))}
          </ul>
          <div class="chart-canvas" ref={box} aria-hidden="true" />
          <details onToggle={(e) => setShowTable((e.currentTarget as HTMLDetailsElement).open)}>
            <summary>{s().showAsTable}</summary>
            {showTable && (
              <div class="table-region" role="region" tabIndex={0} aria-label={s().tableLatest(rows.length)}>
                <table>
                  <caption>{title}: {s().tableLatest(rows.length)}</caption>
                  <thead>
                    <tr>
                      <th scope="col">{s().time}</th>
                      {series.map((sr) => <th scope="col" key={sr.label}>{sr.label}{sr.unit ? ` (${sr.unit})` : ''}</th>)}
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr key={r.t}>
                        <th scope="row">{fmtDateTime(r.t)}</th>
                        {r.values.map((v, j) => <td key={j}>{v === null ? '' : fmtNumber(v)}</td>)}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </details>
        </>
      )}
    </figure>
  );
}
