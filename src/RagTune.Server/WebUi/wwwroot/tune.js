// Fine-tuning: start a job, follow its progress over server-sent events and redraw the loss curves live.
import { json, request, followJob, formatEta } from './api.js';
import { say, refreshJobs } from './app.js';
import { drawLoss } from './chart.js';
import { loadAnswerModels } from './ask.js';

const $ = id => document.getElementById(id);
const SAMPLE = [
  { instruction: 'What colour is the sky?', output: 'The sky is blue.' },
  { instruction: 'What do cats like?', output: 'Cats like to play in the sun.' },
  { instruction: 'Who is Lily?', output: 'Lily is a little girl who loves her dog.' },
  { instruction: 'What did Tom find?', output: 'Tom found a shiny red ball in the park.' },
  { instruction: 'Where do fish live?', output: 'Fish live in the water.' },
  { instruction: 'What is a tree?', output: 'A tree is a big plant with leaves.' },
  { instruction: 'What do dogs say?', output: 'Dogs say woof.' },
  { instruction: 'What is the sun?', output: 'The sun is a bright star in the sky.' },
].map(e => JSON.stringify(e)).join('\n');

let running = null;

export function setupTune() {
  $('tune-data').value = SAMPLE;
  json('/api/tune/models').then(ids => {
    $('tune-model').replaceChildren(...ids.map(id => new Option(id, id)));
    if (ids.length === 0) $('tune-model').append(new Option('(no model served from a file)', ''));
  }).catch(e => say(e.message, true));
  $('tune-form').addEventListener('submit', e => { e.preventDefault(); start().catch(err => say(err.message, true)); });
  $('serve-form').addEventListener('submit', e => { e.preventDefault(); serve().catch(err => say(err.message, true)); });
  $('tune-cancel').addEventListener('click', () => {
    if (running) json(`/api/tune/${running}/cancel`, {}).catch(err => say(err.message, true));
  });
  // A job started earlier (or in another tab) is picked up again: its progress stream replays the whole curve.
  json('/api/jobs').then(jobs => {
    const live = jobs.filter(j => j.kind === 'tune' && (j.state === 'running' || j.state === 'queued')).pop();
    if (live) watch(live.id).catch(err => say(err.message, true));
  }).catch(() => {});
}

function examples() {
  const lines = $('tune-data').value.split('\n').map(l => l.trim()).filter(Boolean);
  return lines.map((line, i) => {
    try { return JSON.parse(line); } catch { throw new Error(`Training example on line ${i + 1} is not valid JSON.`); }
  });
}

async function start() {
  const model = $('tune-model').value;
  if (!model) { say('No base model can be fine-tuned on this server (serve one with --model).', true); return; }
  const body = {
    model, steps: Number($('tune-steps').value), learningRate: Number($('tune-lr').value),
    evalEvery: Number($('tune-eval').value), batchSize: 2, gradAccum: 1, seqLen: 64, validationSplit: 0.25,
  };
  const file = $('tune-file').files[0];
  if (file) {
    // The file is stored on the server first; the job then names it.
    const form = new FormData();
    form.append('file', file, file.name);
    const [stored] = await (await request('/api/datasets', { method: 'POST', body: form })).json();
    body.dataset = stored.name;
  } else {
    body.examples = examples();
  }
  const job = await json('/api/tune', body);
  say(`Fine-tuning job ${job.id} queued.`);
  await watch(job.id);
}

let finished = null;

async function serve() {
  const input = $('serve-name');
  if (!input.checkValidity()) { say('An adapter name uses 1-64 letters, digits, -, _ and . only.', true); input.focus(); return; }
  const served = await json(`/api/tune/${finished}/serve`, { name: input.value });
  await loadAnswerModels();
  $('serve-form').hidden = true;
  say(`Serving ${served.id}: pick it under "Answer with" in Ask (RAG with the fine-tuned model), or call it on /v1/chat/completions.`);
}

async function watch(id) {
  running = id;
  $('serve-form').hidden = true;
  $('tune-cancel').disabled = false;
  let points = [];
  const detail = $('tune-detail'), bar = $('tune-progress'), chart = $('loss-chart');
  const final = await followJob(id, (job, fresh, replaced) => {
    points = replaced ? fresh : points.concat(fresh);
    bar.max = Math.max(1, job.total);
    bar.value = job.done;
    const val = job.valLoss != null ? `, validation ${job.valLoss.toFixed(4)}` : '';
    detail.textContent = job.stage === 'train'
      ? `Step ${job.done} of ${job.total}: training loss ${job.loss != null ? job.loss.toFixed(4) : '…'}${val}. ${formatEta(job.etaSeconds)}`
      : `${job.stage}${job.message ? ': ' + job.message : ''}`;
    drawLoss(chart, points, job.total);
    refreshJobs();
  });
  running = null;
  $('tune-cancel').disabled = true;
  if (final.state === 'succeeded') {
    const r = final.result;
    detail.textContent = `Finished ${r.steps} steps: final training loss ${r.finalTrainLoss.toFixed(4)}` +
      (r.bestStep != null ? `, best validation loss ${r.bestValLoss.toFixed(4)} at step ${r.bestStep}` : '') + `. Adapter: ${r.adapterDir}`;
    finished = id;
    $('serve-base').textContent = r.model;
    $('serve-name').value = `tuned-${id.slice(-6)}`;
    $('serve-form').hidden = false;
  } else {
    detail.textContent = `Fine-tuning ${final.state}${final.error ? ': ' + final.error : ''}.`;
  }
  say(detail.textContent, final.state === 'failed');
  refreshJobs();
}
