// ONNX Runtime (onnxruntime-node) peer for benchmarks/models/run.sh: times session.run() of one
// whole model and prints one JSON line.
//
//   node ort_model.js --ort-dir DIR --model M.onnx [--threads 1] [--runs 30] [--warmup 5]
//        [--input x.bin] [--output y.bin] [--optimized-model out.onnx]
//
// Session options: intraOpNumThreads = --threads, interOpNumThreads = 1, sequential execution,
// graphOptimizationLevel 'all' (ORT's default, ORT_ENABLE_ALL: QDQ int8 models run as
// QLinearConv / QLinearAdd / ... u8s8 kernels). Input: float32 NCHW 1x3x224x224 from --input or a
// fixed pseudo-random normal input. Times are wall time of each await session.run() in ms
// (median / mean / min over --runs after --warmup runs); --output writes the output of the last
// run, --optimized-model the graph ORT actually executes.
'use strict';
const fs = require('fs');
const path = require('path');

const args = {ortDir: process.env.ORT_DIR || '/opt/ort', model: '', threads: 1, runs: 30, warmup: 5,
              input: '', output: '', optimized: ''};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--ort-dir') args.ortDir = v, i++;
  else if (a === '--model') args.model = v, i++;
  else if (a === '--threads') args.threads = Number(v), i++;
  else if (a === '--runs') args.runs = Number(v), i++;
  else if (a === '--warmup') args.warmup = Number(v), i++;
  else if (a === '--input') args.input = v, i++;
  else if (a === '--output') args.output = v, i++;
  else if (a === '--optimized-model') args.optimized = v, i++;
  else {
    console.error(`unknown argument ${a}`);
    process.exit(2);
  }
}
const ort = require(require.resolve('onnxruntime-node', {paths: [path.resolve(args.ortDir), process.cwd()]}));

function randn(n, seed) {  // deterministic normal input (Box-Muller on a small LCG)
  const out = new Float32Array(n);
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

(async () => {
  const opts = {intraOpNumThreads: args.threads, interOpNumThreads: 1, executionMode: 'sequential',
                graphOptimizationLevel: 'all'};
  if (args.optimized) opts.optimizedModelFilePath = args.optimized;
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(args.model, opts);
  const initMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const shape = [1, 3, 224, 224];
  const n = shape.reduce((a, b) => a * b, 1);
  let data;
  if (args.input) {
    const buf = fs.readFileSync(args.input);
    data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n * 4));
  } else {
    data = randn(n, 7);
  }
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, shape)};
  let out;
  for (let i = 0; i < args.warmup; i++) out = await session.run(feeds);
  const ms = [];
  for (let i = 0; i < args.runs; i++) {
    const t = process.hrtime.bigint();
    out = await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const y = out[session.outputNames[0]].data;
  if (args.output) fs.writeFileSync(args.output, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
  const s = [...ms].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
  console.log(JSON.stringify({engine: 'ort', model: args.model, threads: args.threads, runs: args.runs,
                              init_ms: initMs, median_ms: median,
                              mean_ms: ms.reduce((a, b) => a + b, 0) / ms.length, min_ms: s[0],
                              ort_version: ort.env && ort.env.versions ? ort.env.versions.common : undefined}));
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
