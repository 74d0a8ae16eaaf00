// FP32 vs BF16 vs INT8 on one ONNX model with a symbolic batch: batch-1
// latency, batch-B throughput, and agreement of each precision's first
// output with FP32 on inputs the calibration never saw (relative L2 error,
// max relative error, cosine similarity, top-1 agreement: the argmax over
// the output's last dimension per row, i.e. per image for classifiers and
// per token over the hidden dimension for BERT's last_hidden_state).
// Calibration and evaluation inputs are random with fixed seeds: FP32 inputs
// normal (images), int64 inputs token ids in [0, --vocab) except inputs
// named *mask*, which are 1 with the last quarter of the sequence 0
// (padding, as tests/models/export_models.py exports BERT); symbolic
// dimensions after the batch are --seq. The models here have random
// weights, so agreement with FP32 is the measure, not accuracy.
//
//   precision_bench MODEL.onnx [--threads T] [--batch B] [--iterations N]
//                   [--calibration K] [--calibrator minmax|percentile|entropy]
//                   [--eval E] [--seq S] [--vocab V] [--profile 0|1]
//                   [--precisions bf16,int8,int8-nochain,best]   (FP32 always runs first)
//                   [--dump DIR]
// prints a table and, on the last line, JSON. --calibration K items in
// samples of up to 8; --eval E items for the agreement (default 16).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/npy.h"
#include "engine/ir/onnx_import.h"
#include "engine/passes/assign_precision.h"
#include "engine/passes/pass.h"
#include "engine/runtime/calibration.h"
#include "engine/runtime/plan.h"

using namespace nereid;
using namespace nereid::engine;

namespace {

struct InputSpec {
  int64_t seq = 128, vocab = 30522;
};

// One tensor per model input, batch n (see the file comment).
std::vector<Tensor> RandomInputs(const std::vector<ValueInfo>& inputs, int64_t n,
                                 const InputSpec& spec, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> out;
  for (const ValueInfo& in : inputs) {
    Shape shape = in.shape;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (d == 0) shape[d] = n;
      else if (shape[d] < 0) shape[d] = spec.seq;
    }
    Tensor t = Tensor::AllocateDense(in.dtype, shape);
    const size_t count = t.byte_size() / std::max<size_t>(1, DataTypeByteSize(in.dtype));
    if (in.dtype == DataType::kFp32) {
      std::normal_distribution<float> normal(0, 1);
      float* x = t.mutable_data_as<float>();
      for (size_t i = 0; i < count; ++i) x[i] = normal(rng);
    } else if (in.dtype == DataType::kInt64) {
      int64_t* x = t.mutable_data_as<int64_t>();
      const bool mask = in.name.find("mask") != std::string::npos;
      const int64_t last = shape.empty() ? 1 : shape.back();
      std::uniform_int_distribution<int64_t> id(0, spec.vocab - 1);
      for (size_t i = 0; i < count; ++i) {
        x[i] = mask ? (static_cast<int64_t>(i % last) < last - last / 4 ? 1 : 0) : id(rng);
      }
    } else {
      std::memset(t.mutable_data(), 0, t.byte_size());
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<TensorView> Views(const std::vector<Tensor>& ts) {
  std::vector<TensorView> v;
  for (const Tensor& t : ts) v.push_back(t.view());
  return v;
}

struct Row {
  std::string name;
  double build_ms = 0, load_ms = 0, p50_ms = 0, throughput = 0;
  double rel_err = 0, max_rel_err = 0, cosine = 1, top1 = 1;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [--threads T] [--batch B] [--iterations N] "
                         "[--calibration K] [--calibrator minmax|percentile|entropy] [--eval E] "
                         "[--seq S] [--vocab V] [--profile 0|1] "
                         "[--precisions bf16,int8,int8-nochain,best]\n", argv[0]);
    return 2;
  }
  std::string model = argv[1];
  int threads = 2, batch = 32, iterations = 30, calib_images = 64, eval_items = 16;
  InputSpec spec;
  bool profile = false;
  Calibrator calibrator = Calibrator::kEntropy;
  // Rows: fp32 (always first: the reference), bf16, int8, and int8-nochain
  // (INT8 with every tensor between layers in FP32: what the chain pass
  // saves).
  std::string precisions = "fp32,bf16,int8";
  // --dump DIR: the inputs (one/, many/, eval/: <input>.npy), the calibration
  // samples (calib/: <k>.npy, or <k>/<input>.npy for several inputs) and
  // FP32's first output on eval (fp32_output.npy), for peers to run the same
  // data (bench/precision_results.py runs ONNX Runtime on them).
  std::string dump;
  std::string calibrator_name = "entropy";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") threads = std::atoi(value.c_str());
    else if (flag == "--batch") batch = std::atoi(value.c_str());
    else if (flag == "--iterations") iterations = std::atoi(value.c_str());
    else if (flag == "--calibration") calib_images = std::atoi(value.c_str());
    else if (flag == "--profile") profile = value == "1";
    else if (flag == "--eval") eval_items = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--seq") spec.seq = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--vocab") spec.vocab = std::max(1, std::atoi(value.c_str()));
    else if (flag == "--precisions") precisions = "fp32," + value;
    else if (flag == "--dump") dump = value;
    else if (flag == "--calibrator") {
      calibrator_name = value;
      calibrator = value == "minmax" ? Calibrator::kMinMax
                   : value == "percentile" ? Calibrator::kPercentile : Calibrator::kEntropy;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  CompileOptions base;
  base.intra_op_threads = threads;
  auto probe = Plan::FromOnnxFile(model, base);
  if (!probe.ok()) {
    std::fprintf(stderr, "%s\n", probe.status().message().c_str());
    return 1;
  }
  const std::vector<ValueInfo> inputs = (*probe)->inputs();
  auto calibration = std::make_shared<CalibrationSet>();
  for (int k = 0; k < calib_images; k += 8) {
    calibration->samples.push_back(
        RandomInputs(inputs, std::min(8, calib_images - k), spec, 100 + k));
  }
  // Never used for calibration.
  const std::vector<Tensor> eval = RandomInputs(inputs, eval_items, spec, 7);
  const std::vector<Tensor> one = RandomInputs(inputs, 1, spec, 8);
  const std::vector<Tensor> many = RandomInputs(inputs, batch, spec, 9);

  if (!dump.empty()) {
    namespace fs = std::filesystem;
    auto write_set = [&](const fs::path& dir, const std::vector<Tensor>& set) {
      fs::create_directories(dir);
      for (size_t i = 0; i < set.size(); ++i) {
        Status st = WriteNpy((dir / (inputs[i].name + ".npy")).string(), set[i]);
        if (!st.ok()) std::fprintf(stderr, "--dump: %s\n", st.message().c_str());
      }
    };
    write_set(fs::path(dump) / "one", one);
    write_set(fs::path(dump) / "many", many);
    write_set(fs::path(dump) / "eval", eval);
    for (size_t k = 0; k < calibration->samples.size(); ++k) {
      const std::vector<Tensor>& sample = calibration->samples[k];
      if (sample.size() == 1) {
        fs::create_directories(fs::path(dump) / "calib");
        Status st = WriteNpy(
            (fs::path(dump) / "calib" / (std::to_string(k) + ".npy")).string(), sample[0]);
        if (!st.ok()) std::fprintf(stderr, "--dump: %s\n", st.message().c_str());
      } else {
        write_set(fs::path(dump) / "calib" / std::to_string(k), sample);
      }
    }
  }

  if (profile) {
    // What the INT8 assignment chose (stderr): counts by decision.
    auto graph = ImportOnnxFile(model, {});
    CompileOptions o = base;
    o.precision = Precision::kInt8;
    o.calibration = calibration;
    o.calibrator = calibrator;
    PrecisionReport report;
    if (graph.ok() && RunPasses(&*graph, {}).ok() && AssignPrecision(&*graph, o, &report).ok()) {
      std::map<std::string, int> decisions;
      for (const std::string& line : report.lines) {
        // "node 'name' (op OP): INT8 (...)" or "...: FP32 (why)".
        const size_t op = line.find("(op ");
        const size_t colon = line.find("): ", op);
        if (op == std::string::npos || colon == std::string::npos) continue;
        std::string what = line.substr(colon + 3);
        if (what.rfind("INT8", 0) == 0) what = "INT8";
        decisions[line.substr(op + 4, colon - op - 4) + " -> " + what]++;
      }
      std::fprintf(stderr, "INT8 assignment: %d reduced, %d kept FP32\n", report.reduced,
                   report.kept_fp32);
      for (const auto& [d, count] : decisions) std::fprintf(stderr, "  %3d x %s\n", count, d.c_str());
    }
  }
  std::vector<Row> rows;
  std::vector<float> reference;
  struct Variant {
    Precision precision;
    const char* name;
    bool chain = true;
  };
  std::vector<Variant> variants;
  for (size_t pos = 0; pos < precisions.size();) {
    size_t end = precisions.find(',', pos);
    if (end == std::string::npos) end = precisions.size();
    const std::string p = precisions.substr(pos, end - pos);
    pos = end + 1;
    if (p == "fp32" && variants.empty()) variants.push_back({Precision::kFp32, "FP32"});
    else if (p == "bf16") variants.push_back({Precision::kBf16, "BF16"});
    else if (p == "int8") variants.push_back({Precision::kInt8, "INT8"});
    else if (p == "int8-nochain") variants.push_back({Precision::kInt8, "INT8 (no chain)", false});
    else if (p == "best") variants.push_back({Precision::kBest, "best"});
    else if (p != "fp32") {
      std::fprintf(stderr, "unknown precision %s (fp32,bf16,int8,int8-nochain,best)\n", p.c_str());
      return 2;
    }
  }
  for (const auto& [precision, name, chain] : variants) {
    CompileOptions o = base;
    o.precision = precision;
    if (!chain) o.disabled_passes.push_back("chain_int8");
    o.calibration = calibration;
    o.calibrator = calibrator;
    Row row;
    row.name = name;
    const auto t0 = std::chrono::steady_clock::now();
    auto plan = Plan::FromOnnxFile(model, o);
    row.build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                       .count();
    if (!plan.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, plan.status().message().c_str());
      return 1;
    }
    // Loading its plan file (what a server restart with a cached plan pays).
    if (auto bytes = (*plan)->Serialize(); bytes.ok()) {
      const auto l0 = std::chrono::steady_clock::now();
      auto loaded = Plan::FromPlanBytes(*bytes, {});
      row.load_ms = loaded.ok() ? std::chrono::duration<double, std::milli>(
                                      std::chrono::steady_clock::now() - l0)
                                      .count()
                                : -1;
    }
    std::vector<Tensor> out;
    if (!(*plan)->Run(Views(eval), &out).ok()) return 1;
    if (precision == Precision::kFp32 && !dump.empty()) {
      Status st = WriteNpy((std::filesystem::path(dump) / "fp32_output.npy").string(), out[0]);
      if (!st.ok()) std::fprintf(stderr, "--dump: %s\n", st.message().c_str());
    }
    const float* y = out[0].data_as<float>();
    const size_t n = out[0].byte_size() / 4;
    const size_t classes = out[0].shape().empty() ? 1 : out[0].shape().back();
    const size_t items = n / classes;
    if (precision == Precision::kFp32) {
      reference.assign(y, y + n);
    } else {
      double diff = 0, ref2 = 0, dot = 0, y2 = 0, ref_max = 0, diff_max = 0;
      size_t agree = 0;
      for (size_t i = 0; i < n; ++i) {
        ref_max = std::max(ref_max, double(std::fabs(reference[i])));
        diff_max = std::max(diff_max, double(std::fabs(y[i] - reference[i])));
        diff += (y[i] - reference[i]) * (y[i] - reference[i]);
        ref2 += reference[i] * reference[i];
        dot += y[i] * reference[i];
        y2 += y[i] * y[i];
      }
      for (size_t r = 0; r < items; ++r) {
        const float* a = y + r * classes;
        const float* b = reference.data() + r * classes;
        agree += std::max_element(a, a + classes) - a == std::max_element(b, b + classes) - b;
      }
      row.rel_err = std::sqrt(diff / ref2);
      row.max_rel_err = diff_max / ref_max;  // largest error over the largest |FP32 value|
      row.cosine = dot / std::sqrt(ref2 * y2);
      row.top1 = static_cast<double>(agree) / static_cast<double>(items);
    }
    std::vector<double> lat;
    for (int i = 0; i < iterations + 3; ++i) {
      const auto s = std::chrono::steady_clock::now();
      if (!(*plan)->Run(Views(one), &out).ok()) return 1;
      if (i >= 3) {
        lat.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
      }
    }
    std::sort(lat.begin(), lat.end());
    row.p50_ms = lat[lat.size() / 2];
    if (profile) {
      // Batch-1 time per op type (stderr), over 3 runs.
      RunProfile prof;
      for (int i = 0; i < 3; ++i) {
        if (!(*plan)->Run(Views(one), &out, &prof).ok()) return 1;
      }
      std::map<std::string, std::pair<double, int64_t>> by_op;
      for (const StepTiming& st : prof.steps) {
        by_op[st.op_type].first += st.total_ms / 3;
        by_op[st.op_type].second += st.calls / 3;
      }
      std::fprintf(stderr, "%s batch-1 profile (ms per run):\n", name);
      for (const auto& [op, t] : by_op) {
        std::fprintf(stderr, "  %-24s %9.2f ms  %4lld steps\n", op.c_str(), t.first,
                     static_cast<long long>(t.second));
      }
    }
    const int reps = std::max(2, iterations / 10);
    if (!(*plan)->Run(Views(many), &out).ok()) return 1;  // warm-up of the shape
    const auto s = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) {
      if (!(*plan)->Run(Views(many), &out).ok()) return 1;
    }
    const double sec =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
    row.throughput = reps * batch / sec;
    rows.push_back(row);
  }
  std::printf("%s, %d threads, calibration %d random items (%s), agreement on %d items\n",
              model.c_str(), threads, calib_images, calibrator_name.c_str(), eval_items);
  std::printf("| precision | build ms | batch 1 p50 ms | batch %d items/s | x FP32 throughput | "
              "rel. L2 error | max rel. error | cosine | top-1 agreement |\n"
              "|---|---|---|---|---|---|---|---|---|\n",
              batch);
  for (const Row& r : rows) {
    std::printf("| %s | %.0f | %.2f | %.2f | %.2f | %.2e | %.2e | %.6f | %.1f %% |\n",
                r.name.c_str(), r.build_ms, r.p50_ms, r.throughput,
                r.throughput / rows[0].throughput, r.rel_err, r.max_rel_err, r.cosine,
                r.top1 * 100);
  }
  std::printf("{\"model\": \"%s\", \"threads\": %d, \"batch\": %d, \"rows\": [", model.c_str(),
              threads, batch);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf("%s{\"precision\": \"%s\", \"build_ms\": %.1f, \"load_ms\": %.1f, "
                "\"p50_ms\": %.3f, "
                "\"throughput\": %.3f, \"rel_err\": %.3e, \"max_rel_err\": %.3e, "
                "\"cosine\": %.6f, \"top1\": %.4f}",
                i ? ", " : "", r.name.c_str(), r.build_ms, r.load_ms, r.p50_ms, r.throughput, r.rel_err,
                r.max_rel_err, r.cosine, r.top1);
  }
  std::printf("]}\n");
  return 0;
}
