// ONNX Runtime as a peer of the dot, lut and dwconv families: builds single-layer int8 QDQ ONNX
// models of the ANCHORS.md layer shapes (and two MobileNetV2 depthwise layers, group = channels) (u8 activations, s8 weights, written here as raw protobuf), times
// them in onnxruntime-node (default graph optimizations, which fuse DQ -> Conv / MatMul -> Q into
// QLinearConv / QLinearMatMul, u8s8 with VNNI where the CPU has it), runs crumb's bench_dot
// (W8A8 / W4A8 / W2A8), bench_lut (W2A2 / W2A4 pair tables, W2A8 GEMV) and bench_dwconv
// (depthwise W2A4 / W4A4 / W8A8) on the same shape in alternation with it, and prints GOPS
// (2 * MACs / s) and the ratios.
//
//   node benchmarks/ort_layers.js --bench BUILD/benchmarks/bench_dot
//        [--bench-lut BUILD/benchmarks/bench_lut] [--threads 1,2] [--reps 7] [--filter REGEX]
//        [--ort-dir DIR] [--json out.json]
//
// Both binaries name their benchmarks <shape>/<implementation>/threads:<n>[/real_time] with the
// same shape names; --bench and --bench-lut may be given more than once (any such binary), and
// every implementation they run is kept in --json.
//
// ONNX Runtime's time per layer is the kernel's own: the median `dur` of the QLinearConv /
// QLinearMatMul node events in ORT's profile (no JavaScript or session overhead; layout
// transposes ORT inserts around an NHWC kernel are left out, as crumb's NHWC kernels need none).
// The median wall time of whole session.run() calls is printed beside it (ORTwall). The machine
// is shared and noisy, so ORT and the benchmark binaries alternate --reps times per layer (0.3 s
// of ORT runs, then one repetition of every crumb / XNNPACK benchmark of the layer in each
// binary); every figure is the median over its runs. With --threads 2 ORT gets
// intra_op_num_threads = 2 and crumb / XNNPACK their threads:2 benchmarks (a pthreadpool of 2,
// wall time). benchmarks/ort_layers.sh installs onnxruntime-node when needed and calls this.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const {execFileSync} = require('child_process');

// ------------------------------------------------------------------------------ arguments
const args = {bench: [], threads: [1], reps: 7, filter: '', ortDir: '', json: ''};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--bench' || a === '--bench-lut') args.bench.push(v), i++;
  else if (a === '--threads') args.threads = v.split(',').map(Number), i++;
  else if (a === '--reps') args.reps = Number(v), i++;
  else if (a === '--filter') args.filter = v, i++;
  else if (a === '--ort-dir') args.ortDir = v, i++;
  else if (a === '--json') args.json = v, i++;
  else {
    console.error(`unknown argument ${a}`);
    process.exit(2);
  }
}
const ortDir = args.ortDir || process.env.ORT_DIR || '/opt/ort';
const ort = require(require.resolve('onnxruntime-node',
                                    {paths: [path.resolve(ortDir), process.cwd()]}));

// ------------------------------------------------------------------------------ shapes
// The same list, names and MAC counts as benchmarks/dot_bench.cc (bench_lut has the convolutions
// but conv1 and the M = 1 FC layers).
function conv(name, h, w, cin, cout, k, stride, pad, group = 1) {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1, ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  return {name, fc: false, h, w, cin, cout, k, stride, pad, group,
          macs: oh * ow * cout * (cin / group) * k * k};
}
const shapes = [
  conv('conv3x3_s1_56x56_64to64', 56, 56, 64, 64, 3, 1, 1),
  conv('conv3x3_s1_28x28_128to128', 28, 28, 128, 128, 3, 1, 1),
  conv('conv3x3_s1_14x14_256to256', 14, 14, 256, 256, 3, 1, 1),
  conv('conv3x3_s1_7x7_512to512', 7, 7, 512, 512, 3, 1, 1),
  conv('conv1x1_s2_56x56_64to128', 56, 56, 64, 128, 1, 2, 0),
  conv('conv1x1_s2_28x28_128to256', 28, 28, 128, 256, 1, 2, 0),
  conv('conv1x1_s2_14x14_256to512', 14, 14, 256, 512, 1, 2, 0),
  conv('conv7x7_s2_224x224_3to64', 224, 224, 3, 64, 7, 2, 3),
  // MobileNetV2 depthwise layers (group = channels; benchmarks/dwconv_bench.cc's names).
  conv('dw3x3_s1_56x56_144', 56, 56, 144, 144, 3, 1, 1, 144),
  conv('dw3x3_s1_7x7_960', 7, 7, 960, 960, 3, 1, 1, 960),
];
for (const m of [1, 64])
  for (const k of [512, 1024, 4096])
    for (const n of [512, 1024, 4096])
      shapes.push({name: `fc_m${m}_k${k}_n${n}`, fc: true, m, k, n, macs: m * k * n});

// ------------------------------------------------------------------------------ protobuf
// Just enough of the protobuf wire format for an ONNX ModelProto.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const fInt = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const fBytes = (field, buf) => Buffer.concat([key(field, 2), varint(buf.length), buf]);
const fStr = (field, s) => fBytes(field, Buffer.from(s, 'utf8'));
const fMsg = (field, parts) => fBytes(field, Buffer.concat(parts));

const FLOAT = 1, UINT8 = 2, INT8 = 3;
function tensor(name, type, dims, raw) {
  return fMsg(5, [...dims.map((d) => fInt(1, d)), fInt(2, type), fStr(8, name), fBytes(9, raw)]);
}
function valueInfo(field, name, type, dims) {
  const shape = dims.map((d) => fMsg(1, [fInt(1, d)]));
  return fMsg(field, [fStr(1, name), fMsg(2, [fMsg(1, [fInt(1, type), fMsg(2, shape)])])]);
}
function attrInt(name, v) { return fMsg(5, [fStr(1, name), fInt(3, v), fInt(20, 2)]); }
function attrInts(name, vs) { return fMsg(5, [fStr(1, name), ...vs.map((v) => fInt(8, v)), fInt(20, 7)]); }
function node(op, inputs, outputs, attrs = []) {
  return fMsg(1, [...inputs.map((s) => fStr(1, s)), ...outputs.map((s) => fStr(2, s)), fStr(3, outputs[0]),
                  fStr(4, op), ...attrs]);
}
function f32(values) { return Buffer.from(new Float32Array(values).buffer); }

// Random int8 weights (seeded: xorshift).
function int8s(count, seed) {
  const b = Buffer.alloc(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
    b[i] = s & 0xff;
  }
  return b;
}

// x: uint8 -> DequantizeLinear -> Conv / MatMul (weights: int8 -> DequantizeLinear) ->
// QuantizeLinear -> y: uint8. ORT's QDQ fusion turns this into one QLinearConv / QLinearMatMul.
function buildModel(s) {
  const parts = [];
  let xDims, yDims, wDims, layer;
  const scaleY = s.fc ? 0.05 * 0.01 * Math.sqrt(s.k)
                      : 0.05 * 0.01 * Math.sqrt((s.cin / s.group) * s.k * s.k);
  if (s.fc) {
    xDims = [s.m, s.k], yDims = [s.m, s.n], wDims = [s.k, s.n];
    parts.push(tensor('w_scale', FLOAT, [], f32([0.01])));
    parts.push(tensor('w_zp', INT8, [], Buffer.from([0])));
    layer = [node('DequantizeLinear', ['w', 'w_scale', 'w_zp'], ['wf']),
             node('MatMul', ['xf', 'wf'], ['yf'])];
  } else {
    const oh = Math.floor((s.h + 2 * s.pad - s.k) / s.stride) + 1;
    const ow = Math.floor((s.w + 2 * s.pad - s.k) / s.stride) + 1;
    xDims = [1, s.cin, s.h, s.w], yDims = [1, s.cout, oh, ow];
    wDims = [s.cout, s.cin / s.group, s.k, s.k];
    parts.push(tensor('w_scale', FLOAT, [s.cout], f32(new Array(s.cout).fill(0.01))));
    parts.push(tensor('w_zp', INT8, [s.cout], Buffer.alloc(s.cout)));
    layer = [node('DequantizeLinear', ['w', 'w_scale', 'w_zp'], ['wf'], [attrInt('axis', 0)]),
             node('Conv', ['xf', 'wf'], ['yf'],
                  [attrInts('kernel_shape', [s.k, s.k]), attrInts('strides', [s.stride, s.stride]),
                   attrInts('pads', [s.pad, s.pad, s.pad, s.pad]),
                   ...(s.group > 1 ? [attrInt('group', s.group)] : [])])];
  }
  const wCount = wDims.reduce((a, b) => a * b, 1);
  parts.push(tensor('w', INT8, wDims, int8s(wCount, 7)));
  parts.push(tensor('x_scale', FLOAT, [], f32([0.05])));
  parts.push(tensor('x_zp', UINT8, [], Buffer.from([128])));
  parts.push(tensor('y_scale', FLOAT, [], f32([scaleY])));
  parts.push(tensor('y_zp', UINT8, [], Buffer.from([128])));
  const nodes = [node('DequantizeLinear', ['x', 'x_scale', 'x_zp'], ['xf']), ...layer,
                 node('QuantizeLinear', ['yf', 'y_scale', 'y_zp'], ['y'])];
  const graph = fMsg(7, [...nodes, fStr(2, s.name), ...parts, valueInfo(11, 'x', UINT8, xDims),
                         valueInfo(12, 'y', UINT8, yDims)]);
  const model = Buffer.concat([fInt(1, 8), fStr(2, 'crumb ort_layers.js'),
                               fMsg(8, [fStr(1, ''), fInt(2, 13)]), graph]);
  return {model, xDims};
}

// ------------------------------------------------------------------------------ timing
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// An ONNX Runtime session of one layer; batch() runs it for about `seconds`, finish() returns the
// median kernel time of every run (from the profile), the median kernel time of each batch, and
// the median wall time of run() calls.
async function ortSession(s, threads, tmp) {
  const {model, xDims} = buildModel(s);
  const file = path.join(tmp, `${s.name}.onnx`);
  fs.writeFileSync(file, model);
  const prefix = path.join(tmp, `prof_${s.name}_t${threads}`);
  const sess = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential', enableProfiling: true, profileFilePrefix: prefix,
    logSeverityLevel: 3,
  });
  const count = xDims.reduce((a, b) => a * b, 1);
  const x = new ort.Tensor('uint8', Uint8Array.from({length: count}, (_, i) => (i * 37) & 0xff), xDims);
  const feeds = {x};
  const walls = [], batches = [];
  let runs = 0;
  await sess.run(feeds);  // warm-up (its profile event is dropped below)
  runs++;
  return {
    async batch(seconds) {
      const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
      let n = 0;
      while (n < 5 || process.hrtime.bigint() < end) {
        const t0 = process.hrtime.bigint();
        await sess.run(feeds);
        walls.push(Number(process.hrtime.bigint() - t0) * 1e-9);
        n++, runs++;
      }
      batches.push(n);
    },
    async finish() {
      // endProfiling() writes PREFIX_<date>.json (the node binding does not return the name).
      await sess.endProfiling();
      await sess.release();
      const base = path.basename(prefix);
      const profFile = fs.readdirSync(tmp).filter((f) => f.startsWith(base) && f.endsWith('.json'))
                           .map((f) => path.join(tmp, f))[0];
      const events = profFile ? JSON.parse(fs.readFileSync(profFile, 'utf8')) : [];
      if (profFile) fs.unlinkSync(profFile);
      const kernels = {};
      for (const e of events) {
        if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
        const op = e.args && e.args.op_name;
        (kernels[op] = kernels[op] || []).push(e.dur * 1e-6);
      }
      const main = ['QLinearConv', 'QLinearMatMul', 'MatMulIntegerToFloat', 'QGemm',
                    'ConvInteger', 'MatMulInteger'].find((op) => kernels[op]);
      const ops = Object.keys(kernels).sort().join('+');
      const times = main ? kernels[main].slice(1) : [];
      const batch_s = [];
      for (let i = 0, b = 0; b < batches.length && main; i += batches[b++])
        batch_s.push(median(times.slice(i, i + batches[b])));
      return {op: main || `(no fused int8 node: ${ops})`, ops,
              kernel_s: main ? median(times) : NaN, batch_s, wall_s: median(walls)};
    },
  };
}

// The implementations run beside ORT: bench_dot's W8A8 / W4A8 / W2A8 (AVX-512 VNNI, AVX2),
// bench_lut's signed-2-bit-weight pair-table kernels (W2A2 / W2A4 IGEMM, W2A8 GEMV; AVX-512 VBMI,
// AVX2), and XNNPACK qs8 / f32 from the first binary that has the shape.
// bench_dwconv's depthwise kernels (W2A4 / W4A4 / W8A8 bounds) on the depthwise layers.
const CRUMB = 'crumb_w[842]a8_avx(2|512)|lut_w2a[248]_(avx512vbmi|avx2)|crumb_w[24]a4_avx(2|512)|' +
                  'crumb_w(4a4|8a8)_avx512vnni',
      XNN = 'xnn_(qs8|f32)';

// One repetition of every crumb / XNNPACK benchmark of the shape in each binary; returns
// {impl: GOPS}.
function runCrumb(s, threads) {
  const gops = {};
  for (const bench of args.bench) {
    const out = path.join(os.tmpdir(), `crumb_ort_layers_${process.pid}.json`);
    const impls = gops.xnn_qs8 === undefined ? `${CRUMB}|${XNN}` : CRUMB;
    execFileSync(bench, [
      `--benchmark_filter=^${s.name}/(${impls})/threads:${threads}(/real_time)?$`,
      '--benchmark_min_time=0.1', `--benchmark_out=${out}`, '--benchmark_out_format=json',
    ], {stdio: ['ignore', 'ignore', 'ignore']});
    // A binary without the shape (bench_lut: conv1, FC at M = 64) matches nothing, writes nothing.
    const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    if (fs.existsSync(out)) fs.unlinkSync(out);
    const res = text ? JSON.parse(text) : {benchmarks: []};
    for (const b of res.benchmarks) {
      if (b.run_type !== 'iteration' || b.error_occurred) continue;
      gops[b.run_name.split('/')[1]] = b.GOPS;
    }
  }
  return gops;
}

// ORT and crumb alternate `reps` times, so that both see the same share of a busy machine.
async function measure(s, threads, tmp) {
  const o = await ortSession(s, threads, tmp);
  const crumb = {};
  for (let r = 0; r < args.reps; r++) {
    await o.batch(0.3);
    for (const [k, v] of Object.entries(runCrumb(s, threads))) (crumb[k] = crumb[k] || []).push(v);
  }
  const med = {};
  for (const [k, v] of Object.entries(crumb)) med[k] = median(v);
  return {ort: await o.finish(), crumb: med, reps: crumb};
}

// Columns: [label, implementation]. AVX-512 kernels are compared with ORT (VNNI) and XNNPACK
// qs8, AVX2-only kernels with XNNPACK qs8 (Debian's build has no VNNI kernels).
const COLS = [
  ['w2a2 vbmi', 'lut_w2a2_avx512vbmi'], ['w2a4 vbmi', 'lut_w2a4_avx512vbmi'],
  ['w4 512', 'crumb_w4a8_avx512'], ['w2 512', 'crumb_w2a8_avx512'], ['w8 512', 'crumb_w8a8_avx512'],
  ['w2a8 gemv', 'lut_w2a8_avx512vbmi'], ['w2a2 avx2', 'lut_w2a2_avx2'], ['w2a4 avx2', 'lut_w2a4_avx2'],
  ['w4 avx2', 'crumb_w4a8_avx2'], ['w2 avx2', 'crumb_w2a8_avx2'],
  ['dw w2a4 512', 'crumb_w2a4_avx512'], ['dw w4a4 512', 'crumb_w4a4_avx512'],
  ['dw w4a4 avx2', 'crumb_w4a4_avx2'], ['dw w4a4 vnni', 'crumb_w4a4_avx512vnni'],
  ['dw w8a8 vnni', 'crumb_w8a8_avx512vnni'], ['xnnqs8', 'xnn_qs8'], ['xnnf32', 'xnn_f32'],
];
const label = (impl) => COLS.find((c) => c[1] === impl)[0];
const VS_ORT = ['lut_w2a2_avx512vbmi', 'lut_w2a4_avx512vbmi', 'crumb_w4a8_avx512', 'crumb_w2a8_avx512',
                'lut_w2a8_avx512vbmi', 'crumb_w2a4_avx512', 'crumb_w4a4_avx512',
                'crumb_w4a4_avx512vnni', 'crumb_w8a8_avx512vnni'];
const VS_XNN = [...VS_ORT, 'lut_w2a2_avx2', 'lut_w2a4_avx2', 'crumb_w4a8_avx2', 'crumb_w2a8_avx2',
                'crumb_w4a4_avx2'];

(async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crumb-ort-'));
  const re = args.filter ? new RegExp(args.filter) : null;
  console.log(`onnxruntime-node ${ort.env.versions.common}, ${os.cpus()[0].model}, ` +
              `${os.cpus().length} CPUs; GOPS = 2 * MACs / s, medians of ${args.reps} alternations`);
  const results = [];
  const f = (v, w = 6) => (Number.isFinite(v) ? v.toFixed(1) : '-').padStart(w);
  const r = (v, w = 6) => (Number.isFinite(v) ? v.toFixed(2) + 'x' : '-').padStart(w);
  for (const threads of args.threads) {
    console.log(`\n=== ${threads} thread${threads > 1 ? 's' : ''}: GOPS`);
    console.log(['layer'.padEnd(27), 'ORT op'.padEnd(14), '   ORT', 'ORTwall',
                 ...COLS.map((c) => c[0].padStart(6))].join('  '));
    const rows = [];
    for (const s of shapes) {
      if (re && !re.test(s.name)) continue;
      const {ort: o, crumb: c, reps} = await measure(s, threads, tmp);
      const ortG = 2 * s.macs / o.kernel_s * 1e-9, wallG = 2 * s.macs / o.wall_s * 1e-9;
      // Per repetition as well (ORT: the median of each 0.3 s batch), for --json.
      const row = {layer: s.name, threads, ort_op: o.op, ort_ops: o.ops, ort_gops: ortG,
                   ort_wall_gops: wallG, crumb: c,
                   ort_rep_gops: o.batch_s.map((t) => 2 * s.macs / t * 1e-9), crumb_reps: reps};
      results.push(row), rows.push(row);
      console.log([s.name.padEnd(27), o.op.padEnd(14), f(ortG), f(wallG, 7),
                   ...COLS.map(([l, k]) => f(c[k], Math.max(6, l.length)))].join('  '));
    }
    // The ratios, once every layer of this thread count has run.
    console.log(`\n=== ${threads} thread${threads > 1 ? 's' : ''}: ratios (same run) vs ORT | ` +
                'vs XNNPACK qs8');
    console.log(['layer'.padEnd(27), ...VS_ORT.map((k) => label(k).padStart(9)), '|',
                 ...VS_XNN.map((k) => label(k).padStart(9))].join('  '));
    for (const row of rows) {
      const c = row.crumb;
      console.log([row.layer.padEnd(27), ...VS_ORT.map((k) => r(c[k] / row.ort_gops, 9)), '|',
                   ...VS_XNN.map((k) => r(c[k] / c.xnn_qs8, 9))].join('  '));
    }
  }
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 1));
  fs.rmSync(tmp, {recursive: true, force: true});
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
