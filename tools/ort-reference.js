// Runs ONNX models in ONNX Runtime (onnxruntime-node, CPU, graph optimizations disabled) and
// writes each raw float32 output. Called by tools/export-test-models.py; usage:
//   ORT_DIR=/opt/ort node tools/ort-reference.js JOBS.json
// JOBS.json: [{"model": "x.onnx", "input": "in.bin", "shape": [n, c, h, w], "output": "out.bin"}]
// Optimizations stay disabled because ORT's default level fuses QDQ pairs into int8 kernels that
// round differently: the reference must compute the graph as written.
'use strict';
const fs = require('fs');
const path = require('path');

const ortDir = process.env.ORT_DIR || '.';
const ort = require(require.resolve('onnxruntime-node', {paths: [path.resolve(ortDir), process.cwd()]}));

function readF32(p) {
  const b = fs.readFileSync(p);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

(async () => {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  console.log(`onnxruntime-node ${ort.env.versions.common}: ${jobs.length} runs`);
  let failed = 0;
  for (const job of jobs) {
    try {
      const sess = await ort.InferenceSession.create(
          job.model, {graphOptimizationLevel: 'disabled', executionProviders: ['cpu'],
                      logSeverityLevel: 3});
      const feeds = {};
      feeds[sess.inputNames[0]] = new ort.Tensor('float32', readF32(job.input), job.shape);
      const y = (await sess.run(feeds))[sess.outputNames[0]];
      fs.writeFileSync(job.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
      await sess.release();
    } catch (e) {
      failed++;
      console.error(`${job.model}: ${String(e.message || e).split('\n')[0]}`);
    }
  }
  if (failed) {
    console.error(`${failed} of ${jobs.length} runs failed`);
    process.exit(1);
  }
})();
