// Runs an ONNX model with ONNX Runtime (onnxruntime-node): Nereid's test
// oracle and benchmark peer. Never linked into Nereid.
//
//   node tools/ortref/run.js MODEL.onnx --input NAME=FILE.npy ... [--out DIR]
//        [--threads N] [--warmup W] [--iterations K] [--save-optimized FILE.onnx]
//
// --save-optimized writes the graph ONNX Runtime runs after its optimizations
// (e.g. to count the QLinearConv nodes its QDQ fusion made of a QDQ model).
//
// Writes each output as DIR/<output name>.npy and prints one JSON line:
// {"outputs": [...], "latency_ms": {"p50":..,"p99":..,"mean":..}, "iterations": K}
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const NPY_TO_ORT = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i4': ['int32', Int32Array], '<i8': ['int64', BigInt64Array],
  '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '|b1': ['bool', Uint8Array],
  '<i2': ['int16', Int16Array], '<u2': ['uint16', Uint16Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const kind = NPY_TO_ORT[descr];
  if (!kind) throw new Error(`${file}: unsupported dtype ${descr}`);
  const [type, Ctor] = kind;
  const bytes = buf.subarray(start);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  let data = new Ctor(copy.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT);
  if (type === 'bool') data = Uint8Array.from(data).map((v) => (v ? 1 : 0));
  return new ort.Tensor(type, type === 'bool' ? Array.from(data, (v) => !!v) : data, shape);
}

function writeNpy(file, tensor) {
  const descrs = { float32: '<f4', float64: '<f8', int32: '<i4', int64: '<i8', uint8: '|u1',
                   int8: '|i1', bool: '|b1', int16: '<i2', uint16: '<u2' };
  const descr = descrs[tensor.type];
  if (!descr) throw new Error(`cannot write ${tensor.type}`);
  const dims = tensor.dims.length === 1 ? `${tensor.dims[0]},` : tensor.dims.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const pad = 16 - ((10 + header.length + 1) % 16);
  header += ' '.repeat(pad === 16 ? 0 : pad) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = tensor.type === 'bool' ? Buffer.from(Uint8Array.from(tensor.data, (v) => (v ? 1 : 0)))
                                      : Buffer.from(tensor.data.buffer, tensor.data.byteOffset,
                                                    tensor.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), data]));
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 1) throw new Error('usage: run.js MODEL.onnx --input NAME=FILE.npy ...');
  const model = args[0];
  const feeds = {};
  let out = null, threads = 2, warmup = 0, iterations = 1, optimized = null;
  for (let i = 1; i < args.length; ++i) {
    const a = args[i];
    if (a === '--input') {
      const [name, file] = args[++i].split('=');
      feeds[name] = readNpy(file);
    } else if (a === '--out') out = args[++i];
    else if (a === '--threads') threads = Number(args[++i]);
    else if (a === '--warmup') warmup = Number(args[++i]);
    else if (a === '--iterations') iterations = Number(args[++i]);
    else if (a === '--save-optimized') optimized = args[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(optimized ? { optimizedModelFilePath: optimized } : {}),
  });
  let result;
  for (let i = 0; i < warmup; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < iterations; ++i) {
    const t0 = process.hrtime.bigint();
    result = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  if (out) {
    fs.mkdirSync(out, { recursive: true });
    for (const [name, t] of Object.entries(result)) writeNpy(path.join(out, `${name}.npy`), t);
  }
  times.sort((a, b) => a - b);
  const pct = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(JSON.stringify({
    outputs: Object.keys(result), iterations,
    latency_ms: { p50: pct(0.5), p99: pct(0.99), mean: times.reduce((a, b) => a + b, 0) / times.length },
  }));
}

main().catch((e) => { console.error(String(e.stack || e)); process.exit(1); });
