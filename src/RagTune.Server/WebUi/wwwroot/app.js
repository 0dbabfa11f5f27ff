// Page wiring: tabs, the collection picker, uploads with live ingestion progress, and the jobs table.
import { json, request, followJob, formatEta } from './api.js';
import { setupAsk } from './ask.js';
import { setupTune } from './tune.js';
import { setupCompare } from './compare.js';

const $ = id => document.getElementById(id);

export function say(message, isError = false) {
  const status = $('status');
  status.textContent = message;
  status.classList.toggle('error', isError);
}

export function currentCollection() { return $('collection').value; }

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  const select = tab => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
    tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', e => {
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length]);
    });
  });
}

async function loadCollections(selected) {
  const list = await json('/api/collections');
  const select = $('collection');
  select.replaceChildren(...list.map(c => new Option(c.name, c.name)));
  if (list.length === 0) select.append(new Option('(none yet: create one)', ''));
  if (selected) select.value = selected;
  showStats(list.find(c => c.name === select.value));
}

function showStats(c) {
  $('collection-stats').textContent = c ? `${c.documents} documents, ${c.chunks} chunks` : '';
}

async function refreshStats() {
  const name = currentCollection();
  if (name) showStats(await json(`/api/collections/${encodeURIComponent(name)}`));
}

function setupCollections() {
  $('collection').addEventListener('change', () => refreshStats().catch(e => say(e.message, true)));
  $('create-form').addEventListener('submit', async e => {
    e.preventDefault();
    const input = $('new-collection');
    if (!input.checkValidity()) { say('A collection name uses letters, digits, - and _ only.', true); input.focus(); return; }
    try {
      await json('/api/collections', { name: input.value });
      await loadCollections(input.value);
      say(`Created collection ${input.value}.`);
      input.value = '';
    } catch (err) { say(err.message, true); }
  });
  $('upload-form').addEventListener('submit', async e => {
    e.preventDefault();
    const name = currentCollection();
    const files = $('files').files;
    if (!name) { say('Create or pick a collection first.', true); return; }
    if (files.length === 0) { say('Choose at least one file.', true); return; }
    const form = new FormData();
    for (const f of files) form.append('file', f, f.name);
    try {
      const response = await request(`/api/collections/${encodeURIComponent(name)}/documents`, { method: 'POST', body: form });
      const { files: stored, job } = await response.json();
      say(`Uploaded ${stored.map(f => f.name).join(', ')}; ingesting.`);
      await watchIngest(job.id);
    } catch (err) { say(err.message, true); }
  });
}

async function watchIngest(id) {
  const box = $('ingest'), bar = $('ingest-progress'), detail = $('ingest-detail');
  box.hidden = false;
  const final = await followJob(id, job => {
    bar.max = Math.max(1, job.total);
    bar.value = job.total === 0 ? 0 : job.done;
    detail.textContent = `${job.stage}: ${job.done} of ${job.total} ${formatEta(job.etaSeconds)}`;
    refreshJobs();
  });
  if (final.state === 'succeeded') {
    const r = final.result;
    bar.max = 1; bar.value = 1;
    detail.textContent = `Done: ${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.chunksWritten} chunks written` +
      (r.failed.length ? `; failed: ${r.failed.map(f => `${f.document} (${f.reason})`).join('; ')}` : '.');
    say('Ingestion finished.');
  } else {
    detail.textContent = `Ingestion ${final.state}${final.error ? ': ' + final.error : ''}.`;
    say(detail.textContent, final.state === 'failed');
  }
  await refreshStats();
  refreshJobs();
}

let refreshing = null;
export function refreshJobs() {
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    refreshing = null;
    try {
      const jobs = await json('/api/jobs');
      $('jobs').replaceChildren(...jobs.reverse().map(j => {
        const row = document.createElement('tr');
        for (const text of [j.title, j.state, j.stage, j.total ? `${j.done}/${j.total}` : '']) {
          const cell = document.createElement('td');
          cell.textContent = text;
          row.append(cell);
        }
        return row;
      }));
    } catch { /* the table is informative only */ }
  }, 300);
}

async function main() {
  setupTabs();
  setupCollections();
  setupAsk();
  setupTune();
  setupCompare();
  try {
    await loadCollections();
    refreshJobs();
  } catch (e) { say(e.message, true); }
}

main();
