// The loss curves as SVG: training loss per step and validation loss where it was measured.
const NS = 'http://www.w3.org/2000/svg';
const W = 640, H = 260, PAD = { left: 52, right: 16, top: 16, bottom: 36 };

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draws points ({step, trainLoss, valLoss}) into figure, replacing what was there. */
export function drawLoss(figure, points, totalSteps) {
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'loss' });
  const last = points[points.length - 1];
  const vals = points.filter(p => p.valLoss != null);
  const summary = last
    ? `Loss after step ${last.step}: training ${last.trainLoss.toFixed(4)}` + (vals.length ? `, validation ${vals[vals.length - 1].valLoss.toFixed(4)}` : '')
    : 'No steps yet.';
  svg.append(el('title', {}, summary));
  const maxStep = Math.max(totalSteps || 1, last ? last.step : 1);
  const losses = points.flatMap(p => p.valLoss != null ? [p.trainLoss, p.valLoss] : [p.trainLoss]);
  let lo = losses.length ? Math.min(...losses) : 0, hi = losses.length ? Math.max(...losses) : 1;
  if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; }
  const x = s => PAD.left + (W - PAD.left - PAD.right) * s / maxStep;
  const y = v => PAD.top + (H - PAD.top - PAD.bottom) * (1 - (v - lo) / (hi - lo));
  svg.append(el('line', { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, class: 'axis' }));
  svg.append(el('line', { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom, class: 'axis' }));
  for (const v of [lo, (lo + hi) / 2, hi])
    svg.append(el('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, v.toFixed(2)));
  for (const s of [0, Math.round(maxStep / 2), maxStep])
    svg.append(el('text', { x: x(s), y: H - PAD.bottom + 16, 'text-anchor': 'middle', class: 'tick' }, String(s)));
  svg.append(el('text', { x: (W + PAD.left) / 2, y: H - 4, 'text-anchor': 'middle', class: 'tick' }, 'step'));
  if (points.length)
    svg.append(el('polyline', { class: 'train', 'data-points': points.length, points: points.map(p => `${x(p.step)},${y(p.trainLoss)}`).join(' ') }));
  if (vals.length) {
    svg.append(el('polyline', { class: 'val', 'data-points': vals.length, points: vals.map(p => `${x(p.step)},${y(p.valLoss)}`).join(' ') }));
    for (const p of vals) svg.append(el('circle', { class: 'val', cx: x(p.step), cy: y(p.valLoss), r: 3.5 }));
  }
  const legend = el('g', { class: 'legend' });
  legend.append(el('line', { x1: W - 200, y1: 18, x2: W - 180, y2: 18, class: 'train' }), el('text', { x: W - 176, y: 22 }, 'training'));
  legend.append(el('line', { x1: W - 110, y1: 18, x2: W - 90, y2: 18, class: 'val' }), el('text', { x: W - 86, y: 22 }, 'validation'));
  svg.append(legend);
  const caption = document.createElement('figcaption');
  caption.textContent = summary;
  figure.replaceChildren(svg, caption);
}
