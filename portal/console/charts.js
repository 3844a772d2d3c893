/**
 * A line chart in plain SVG: no library. The chart's viewBox is 600 × 160; the
 * line is scaled to the largest value shown (at least 1).
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 160;
const PAD_TOP = 14;
const PAD_BOTTOM = 4;

/**
 * @param {string} name
 * @param {Record<string, string>} attrs
 */
function node(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** @param {number} n */
export function formatNumber(n) {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(1);
}

/**
 * Draws `values` (oldest first) into `svg`, replacing what it held; returns the
 * scale's top and the last value, for a caption.
 * @param {SVGSVGElement} svg
 * @param {number[]} values
 */
export function drawLine(svg, values) {
  svg.replaceChildren();
  const max = Math.max(1, ...values);
  const usable = HEIGHT - PAD_TOP - PAD_BOTTOM;
  for (const fraction of [0, 0.5, 1]) {
    const y = PAD_TOP + usable * (1 - fraction);
    svg.append(node('line', { x1: '0', x2: String(WIDTH), y1: String(y), y2: String(y), class: 'grid' }));
  }
  const last = values.length ? values[values.length - 1] : 0;
  if (values.length < 2) return { max, last };
  const step = WIDTH / (values.length - 1);
  const points = values.map((v, i) => [i * step, PAD_TOP + usable * (1 - v / max)]);
  const line = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  svg.append(node('path', { d: `${line} L${WIDTH},${HEIGHT} L0,${HEIGHT} Z`, class: 'area' }));
  svg.append(node('path', { d: line, class: 'line' }));
  return { max, last };
}
