// The sampler page: loads models.json (written by `vaezoo web`), runs a preset's .tflite
// sampler with LiteRT.js on WebAssembly, and draws what it returns. The files have a fixed
// batch (LiteRT.js has no dynamic batch) and float inputs and outputs (no int8 tensors).
import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';

const $ = (id) => document.getElementById(id);
const WALK_DIMS = 8;        // sliders over the first noise dimensions
const WALK_RANGE = 4;       // each slider spans [-4, 4] standard deviations

// What the tests (and the curious) read: the last grid's inputs and outputs.
const page = {ready: null, last: null, manifest: null, model: null, entry: null};
window.vaezooPage = page;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

// Seeded standard-normal noise (mulberry32 + Box-Muller): the same seed gives the same
// grid on every load. The noise itself is in `page.last` for comparison elsewhere.
function normalNoise(count, seed) {
  let a = (seed >>> 0) + 0x6d2b79f5;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(uniform(), 1e-12), v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

// One call of the sampler on a full batch: noise [batch, noise_dim] (+ labels [batch]).
async function runSampler(noise, labels) {
  const {batch_size: batch, noise_dim: dim, num_classes: classes} = page.entry;
  const inputs = {noise: new Tensor(noise, [batch, dim])};
  if (classes) inputs.labels = new Tensor(labels, [batch]);
  const start = performance.now();
  const outputs = await page.model.run('sample_from_noise', inputs);
  const seconds = (performance.now() - start) / 1000;
  const samples = outputs.samples.toTypedArray().slice();
  for (const t of Object.values(inputs)) t.delete();
  for (const t of Object.values(outputs)) t.delete();
  return {samples, seconds};
}

// Pixels in [0, 1] to 8-bit RGBA, rounded as EdgeSampler(dtype="uint8") rounds them.
function drawImages(canvas, samples, count, columns) {
  const [height, width, channels] = page.entry.output_shape;
  const rows = Math.ceil(count / columns);
  canvas.width = columns * width;
  canvas.height = rows * height;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(canvas.width, canvas.height);
  const level = (v) => Math.round(Math.min(1, Math.max(0, v)) * 255);
  for (let n = 0; n < count; n++) {
    const x0 = (n % columns) * width, y0 = Math.floor(n / columns) * height;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const src = ((n * height + y) * width + x) * channels;
        const dst = ((y0 + y) * canvas.width + x0 + x) * 4;
        for (let c = 0; c < 3; c++) image.data[dst + c] = level(samples[src + (channels === 1 ? 0 : c)]);
        image.data[dst + 3] = 255;
      }
    }
  }
  ctx.putImageData(image, 0, 0);
}

function gridLabels() {
  const {batch_size: batch, num_classes: classes} = page.entry;
  if (!classes) return null;
  const chosen = Number($('class').value);
  return Int32Array.from({length: batch}, (_, i) => (chosen >= 0 ? chosen : i % classes));
}

async function sampleGrid() {
  const {batch_size: batch, noise_dim: dim} = page.entry;
  const seed = Math.max(0, Math.floor(Number($('seed').value) || 0));
  const temperature = Number($('temperature').value);
  const noise = normalNoise(batch * dim, seed).map((v) => v * temperature);
  const labels = gridLabels();
  const {samples, seconds} = await runSampler(noise, labels);
  drawImages($('grid'), samples, batch, Math.ceil(Math.sqrt(batch)));
  page.last = {preset: page.entry.name, kind: 'sample', noise: Array.from(noise),
               labels: labels ? Array.from(labels) : null, seed, temperature, seconds};
  $('timing').textContent = `${(1000 * seconds / batch).toFixed(2)} ms per sample ` +
    `(${batch} in one call of ${(1000 * seconds).toFixed(1)} ms, WebAssembly CPU)`;
  buildSliders();
  await walk();
}

async function interpolate() {
  if (!page.last) return;
  const {batch_size: batch, noise_dim: dim} = page.entry;
  const a = page.last.noise.slice(0, dim), b = page.last.noise.slice(dim, 2 * dim);
  const noise = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) {
    const t = batch === 1 ? 0 : i / (batch - 1);
    for (let d = 0; d < dim; d++) noise[i * dim + d] = (1 - t) * a[d] + t * b[d];
  }
  const labels = page.last.labels ? Int32Array.from({length: batch}, () => page.last.labels[0]) : null;
  const {samples} = await runSampler(noise, labels);
  drawImages($('grid'), samples, batch, batch);
  page.last = {...page.last, kind: 'interpolate', noise: Array.from(noise),
               labels: labels ? Array.from(labels) : null};
}

function buildSliders() {
  const box = $('sliders');
  box.replaceChildren();
  const dims = Math.min(WALK_DIMS, page.entry.noise_dim);
  for (let d = 0; d < dims; d++) {
    const label = document.createElement('label');
    label.textContent = `noise ${d}`;
    const slider = document.createElement('input');
    Object.assign(slider, {type: 'range', min: -WALK_RANGE, max: WALK_RANGE, step: 0.05,
                           value: page.last.noise[d], id: `walk-${d}`});
    const value = document.createElement('output');
    value.textContent = Number(slider.value).toFixed(2);
    slider.addEventListener('input', () => {
      value.textContent = Number(slider.value).toFixed(2);
      walk().catch(fail);
    });
    box.append(label, slider, value);
  }
}

// The grid's first sample with the sliders' values in its first noise dimensions: one
// call on a batch of copies (the file's batch is fixed).
async function walk() {
  const {batch_size: batch, noise_dim: dim} = page.entry;
  const vector = Float32Array.from(page.last.noise.slice(0, dim));
  for (let d = 0; d < Math.min(WALK_DIMS, dim); d++) vector[d] = Number($(`walk-${d}`).value);
  const noise = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) noise.set(vector, i * dim);
  const labels = page.last.labels ? Int32Array.from({length: batch}, () => page.last.labels[0]) : null;
  const {samples} = await runSampler(noise, labels);
  drawImages($('walk'), samples, 1, 1);
}

async function choosePreset(name) {
  page.entry = page.manifest.models.find((m) => m.name === name);
  setStatus(`Loading ${name}…`);
  $('sample').disabled = $('interpolate').disabled = true;
  if (page.model) page.model.delete();
  page.model = await loadAndCompile(page.entry.file, {accelerator: 'wasm'});
  const classes = page.entry.num_classes;
  $('class-field').hidden = !classes;
  if (classes) {
    const names = page.entry.class_names || Array.from({length: classes}, (_, i) => String(i));
    $('class').replaceChildren(new Option('one of each', '-1'),
                               ...names.map((n, i) => new Option(n, String(i))));
  }
  const [h, w, c] = page.entry.output_shape;
  $('model-info').textContent = `${name}: ${page.entry.family}, ${page.entry.noise_dim} noise ` +
    `dimensions, ${h}×${w}×${c} samples, ${page.entry.quantization} ` +
    `(mean error against Keras ${page.entry.parity_mean_abs_error.toExponential(1)}), ` +
    `${(page.entry.size_bytes / 1024).toFixed(0)} KB`;
  await sampleGrid();
  $('sample').disabled = $('interpolate').disabled = false;
  setStatus(`${name} ready.`);
}

function fail(err) {
  console.error(err);
  setStatus(`Error: ${err.message || err}`, true);
}

async function main() {
  const response = await fetch('models.json');
  page.manifest = await response.json();
  await loadLiteRt('./litert/wasm/');
  const select = $('preset');
  select.replaceChildren(...page.manifest.models.map((m) => new Option(m.name, m.name)));
  select.addEventListener('change', () => choosePreset(select.value).catch(fail));
  $('sample').addEventListener('click', () => sampleGrid().catch(fail));
  $('interpolate').addEventListener('click', () => interpolate().catch(fail));
  $('class').addEventListener('change', () => sampleGrid().catch(fail));
  $('seed').addEventListener('change', () => sampleGrid().catch(fail));
  $('temperature').addEventListener('input', () => {
    $('temperature-value').textContent = Number($('temperature').value).toFixed(2);
  });
  $('temperature').addEventListener('change', () => sampleGrid().catch(fail));
  await choosePreset(page.manifest.models[0].name);
}

page.ready = main().catch((err) => { fail(err); throw err; });
