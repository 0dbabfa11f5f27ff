// Compare: start a comparison of base, RAG, fine-tuned, fine-tuned + RAG and RAFT + RAG on the selected
// collection, follow its stages live, and read its report (summary here, the full self-contained report framed).
import { json, request, followJob, formatEta } from './api.js';
import { say, refreshJobs, currentCollection } from './app.js';

const $ = id => document.getElementById(id);
let running = null;

export function setupCompare() {
  json('/api/tune/models').then(ids => {
    $('compare-model').replaceChildren(...ids.map(id => new Option(id, id)));
    if (ids.length === 0) $('compare-model').append(new Option('(no model served from a file)', ''));
  }).catch(e => say(e.message, true));
  loadDatasets().catch(() => {});
  $('compare-form').addEventListener('submit', e => { e.preventDefault(); start().catch(err => say(err.message, true)); });
  $('compare-fill').addEventListener('click', () => fill().catch(err => say(err.message, true)));
  $('compare-advanced').addEventListener('toggle', () => {
    if ($('compare-advanced').open && !$('compare-spec').value.trim()) fill().catch(err => say(err.message, true));
  });
  $('compare-cancel').addEventListener('click', () => {
    if (running) json(`/api/compare/${running}/cancel`, {}).catch(err => say(err.message, true));
  });
  for (const button of document.querySelectorAll('#compare-report [data-file]'))
    button.addEventListener('click', () => download(button.dataset.file).catch(err => say(err.message, true)));
  refreshList().then(list => {
    // A comparison started earlier (or in another tab) is picked up again.
    const live = list.find(c => c.state === 'running' || c.state === 'queued');
    if (live) watch(live.id).catch(err => say(err.message, true));
  }).catch(() => {});
}

async function loadDatasets(selected) {
  const files = (await json('/api/datasets')).filter(f => f.name.endsWith('.jsonl'));
  const select = $('compare-questions');
  select.replaceChildren(new Option('Generate from the documents', ''), ...files.map(f => new Option(f.name, f.name)));
  if (selected) select.value = selected;
}

function fields() {
  const collection = currentCollection();
  if (!collection) throw new Error('Create or pick a collection first: the comparison runs on its documents.');
  const model = $('compare-model').value;
  if (!model) throw new Error('No base model can be compared on this server (serve one with --model).');
  const arms = [...document.querySelectorAll('#compare-arms input:checked')].map(i => i.value);
  if (arms.length === 0) throw new Error('Pick at least one arm.');
  return {
    collection, model, arms,
    questions: $('compare-questions').value || null,
    steps: Number($('compare-steps').value) || null,
    freshness: $('compare-freshness').checked,
    dataEfficiency: $('compare-efficiency').checked,
    forgetting: $('compare-forgetting').checked,
  };
}

async function uploadQuestions() {
  const file = $('compare-file').files[0];
  if (!file) return;
  const form = new FormData();
  form.append('file', file, file.name);
  const [stored] = await (await request('/api/datasets', { method: 'POST', body: form })).json();
  await loadDatasets(stored.name);
  $('compare-file').value = '';
}

async function fill() {
  await uploadQuestions();
  $('compare-spec').value = (await json('/api/compare/template', fields())).spec;
  $('compare-advanced').open = true;
}

async function start() {
  let body;
  if ($('compare-advanced').open && $('compare-spec').value.trim()) {
    body = { spec: $('compare-spec').value };
  } else {
    await uploadQuestions();
    body = fields();
  }
  const status = await json('/api/compare', body);
  say(`Comparison ${status.comparison.name} queued.`);
  await refreshList();
  await watch(status.comparison.id);
}

async function watch(id) {
  running = id;
  $('compare-cancel').disabled = false;
  $('compare-report').hidden = true;
  const detail = $('compare-detail'), bar = $('compare-progress'), stages = $('compare-stages');
  stages.replaceChildren();
  let current = null;
  const final = await followJob(id, job => {
    // The queue's own stages (queued, starting, done, …) are not the comparison's.
    if (job.stage !== current && !['queued', 'starting', 'done', 'failed', 'cancelled'].includes(job.stage)) {
      if (stages.lastElementChild) stages.lastElementChild.className = 'done';
      current = job.stage;
      const item = document.createElement('li');
      item.textContent = job.stage;
      stages.append(item);
    }
    bar.max = Math.max(1, job.total);
    bar.value = job.total === 0 ? 0 : job.done;
    detail.textContent = `${job.title}: ${job.stage}` + (job.total ? ` ${job.done} of ${job.total}` : '') +
      (job.loss != null ? ` (training loss ${job.loss.toFixed(3)}${job.valLoss != null ? `, validation ${job.valLoss.toFixed(3)}` : ''})`
        : job.message ? ` (${job.message})` : '') + ` ${formatEta(job.etaSeconds)}`;
    refreshJobs();
  });
  running = null;
  $('compare-cancel').disabled = true;
  if (stages.lastElementChild) stages.lastElementChild.className = 'done';
  detail.textContent = final.state === 'succeeded' ? `${final.title}: finished.` : `${final.title} ${final.state}${final.error ? ': ' + final.error : ''}.`;
  say(detail.textContent, final.state === 'failed');
  await refreshList();
  refreshJobs();
  if (final.state === 'succeeded') await showReport(id);
}

async function refreshList() {
  const list = await json('/api/compare');
  $('compare-list').replaceChildren(...list.map(c => {
    const row = document.createElement('tr');
    for (const text of [c.name, c.state, c.recommendation || c.error || '']) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const actions = document.createElement('td');
    if (c.state === 'succeeded') actions.append(action('View report', `View the report of ${c.name}`, () => showReport(c.id)));
    if (c.state !== 'running' && c.state !== 'queued')
      actions.append(' ', action('Delete', `Delete ${c.name} and its files`, async () => {
        await json(`/api/compare/${c.id}`, undefined, 'DELETE');
        if ($('compare-report').dataset.id === c.id) $('compare-report').hidden = true;
        await refreshList();
      }));
    row.append(actions);
    return row;
  }));
  return list;
}

function action(text, label, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link';
  button.textContent = text;
  button.setAttribute('aria-label', label);
  button.addEventListener('click', () => onClick().catch(err => say(err.message, true)));
  return button;
}

function percent(x) { return x == null ? '–' : (100 * x).toFixed(1); }

async function showReport(id) {
  const status = await json(`/api/compare/${id}`);
  const s = status.summary;
  if (!s) { say(`Comparison ${id} has no report.`, true); return; }
  const box = $('compare-report');
  box.dataset.id = id;
  $('compare-report-title').textContent = `Report: ${s.name}`;
  $('compare-recommendation').textContent = s.recommendation;
  $('compare-reasons').replaceChildren(...s.reasons.map(r => Object.assign(document.createElement('li'), { textContent: r })));
  $('compare-arms-caption').textContent =
    `${s.model}; ${s.trainQuestions} training and ${s.testQuestions} test questions; score: ${s.primaryMetric} (%)`;
  $('compare-arm-rows').replaceChildren(...s.arms.map(a => {
    const row = document.createElement('tr');
    const score = a.error ? `failed: ${a.error}` : `${percent(a.primary)} (${percent(a.low)}–${percent(a.high)})`;
    const cells = [a.arm, score, a.latencyP50Ms == null ? '–' : `${Math.round(a.latencyP50Ms)} ms`,
      `$${a.monthlyCost.toFixed(2)}`, a.rank == null ? '–' : String(a.rank) + (a.withinNoiseOfBest ? ' (within noise of best)' : '')];
    for (const text of cells) row.append(Object.assign(document.createElement('td'), { textContent: text }));
    if (a.arm === s.recommended) row.className = 'recommended';
    return row;
  }));
  // The frame and the new tab cannot send the API key: a short-lived ticket opens this one report.
  const { url } = await json(`/api/compare/${id}/ticket`, {});
  $('report-frame').src = url;
  $('report-open').href = url;
  box.hidden = false;
  box.scrollIntoView({ block: 'start' });
}

async function download(file) {
  const id = $('compare-report').dataset.id;
  const blob = await (await request(`/api/compare/${id}/${file}`)).blob();
  const link = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: `${id}-${file}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
