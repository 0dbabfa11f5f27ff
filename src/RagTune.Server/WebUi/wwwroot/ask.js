// Ask: the answer streams in as it is generated; citations [n] become buttons that open the cited passage,
// highlighted in its document.
import { json, request, readEvents } from './api.js';
import { say, currentCollection } from './app.js';

const $ = id => document.getElementById(id);
let sources = [];

/** Fills "Answer with" from the served chat models (not the rag: ones: the collection already does the retrieval). */
export async function loadAnswerModels(selected) {
  const list = await json('/v1/models');
  const select = $('ask-model');
  select.replaceChildren(new Option('Quotes from the sources (no model)', ''),
    ...list.data.filter(m => !m.id.startsWith('rag:')).map(m => new Option(m.id, m.id)));
  if (selected) select.value = selected;
}

export function setupAsk() {
  loadAnswerModels().catch(() => { /* no models: extractive answers only */ });
  $('ask-form').addEventListener('submit', e => { e.preventDefault(); ask().catch(err => say(err.message, true)); });
}

async function ask() {
  const name = currentCollection();
  const question = $('question').value.trim();
  if (!name) { say('Create or pick a collection first.', true); return; }
  if (!question) { say('Type a question.', true); $('question').focus(); return; }
  const answer = $('answer');
  answer.textContent = '';
  answer.setAttribute('aria-busy', 'true');
  $('sources').replaceChildren();
  const body = { question, k: Number($('ask-k').value) || 5, model: $('ask-model').value || null, stream: true };
  const response = await request(`/api/collections/${encodeURIComponent(name)}/ask`,
    { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  await readEvents(response, (event, data) => {
    if (event === 'delta') answer.textContent += data.text;
    else if (event === 'answer') render(data);
    else if (event === 'error') say(data.message, true);
  });
  answer.setAttribute('aria-busy', 'false');
}

function citationButton(number) {
  const source = sources.find(s => s.number === number);
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'cite';
  button.textContent = `[${number}]`;
  button.setAttribute('aria-label', source ? `Source ${number}: ${source.title}` : `Source ${number} (missing)`);
  if (source) button.addEventListener('click', () => openPassage(source));
  else button.disabled = true;
  return button;
}

function render(result) {
  sources = result.sources;
  const answer = $('answer');
  answer.replaceChildren();
  // The answer's text with each [n] turned into a button for source n.
  const parts = result.answer.split(/(\[\d+\])/);
  for (const part of parts) {
    const m = /^\[(\d+)\]$/.exec(part);
    answer.append(m ? citationButton(Number(m[1])) : document.createTextNode(part));
  }
  if (result.abstained) answer.append(document.createTextNode(' (no supported answer in this collection)'));
  $('sources').replaceChildren(...result.sources.map(s => {
    const item = document.createElement('li');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'link';
    open.textContent = `${s.title} (${s.documentId}${s.pages ? `, ${s.pages}` : ''})`;
    open.addEventListener('click', () => openPassage(s));
    item.append(open);
    if (!s.cited) item.append(document.createTextNode(' (not cited)'));
    return item;
  }));
}

async function openPassage(source) {
  const p = await json(`/api/collections/${encodeURIComponent(currentCollection())}/chunks/${source.chunkId}`);
  $('passage-title').textContent = `[${source.number}] ${p.title} (${p.documentId})`;
  const text = $('passage-text');
  const mark = document.createElement('mark');
  mark.textContent = p.text.slice(p.start, p.end);
  text.replaceChildren(document.createTextNode(p.text.slice(0, p.start)), mark, document.createTextNode(p.text.slice(p.end)));
  $('passage').showModal();
  mark.scrollIntoView({ block: 'center' });
}
