// FP32 vs BF16 vs INT8 on one ONNX image model (one FP32 input [N, C, H, W]
// with a symbolic batch): batch-1 latency, batch-B throughput, and agreement
// of each precision's outputs with FP32 on inputs the calibration never saw
// (relative L2 error, cosine similarity, top-1 agreement). Calibration and
// evaluation inputs are random normal images (fixed seeds): the models here
// have random weights, so agreement with FP32 is the measure, not accuracy.
//
//   precision_bench MODEL.onnx [--threads T] [--batch B] [--iterations N]
//                   [--calibration K] [--calibrator minmax|percentile|entropy]
//                   [--precisions bf16,int8,int8-nochain,best]   (FP32 always runs first)
// prints a table and, on the last line, JSON.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/runtime/calibration.h"
#include "engine/runtime/plan.h"

using namespace nereid;
using namespace nereid::engine;

namespace {

Tensor RandomImages(const Shape& chw, int64_t n, uint32_t seed) {
  Shape shape = {n};
  shape.insert(shape.end(), chw.begin(), chw.end());
  Tensor t = Tensor::AllocateDense(DataType::kFp32, shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  float* x = t.mutable_data_as<float>();
  for (size_t i = 0; i < t.byte_size() / 4; ++i) x[i] = normal(rng);
  return t;
}

struct Row {
  std::string name;
  double build_ms = 0, p50_ms = 0, throughput = 0;
  double rel_err = 0, cosine = 1, top1 = 1;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [--threads T] [--batch B] [--iterations N] "
                         "[--calibration K] [--calibrator minmax|percentile|entropy] "
                         "[--precisions bf16,int8,int8-nochain,best]\n", argv[0]);
    return 2;
  }
  std::string model = argv[1];
  int threads = 2, batch = 32, iterations = 30, calib_images = 64;
  Calibrator calibrator = Calibrator::kEntropy;
  // Rows: fp32 (always first: the reference), bf16, int8, and int8-nochain
  // (INT8 with every tensor between layers in FP32: what the chain pass
  // saves).
  std::string precisions = "fp32,bf16,int8";
  std::string calibrator_name = "entropy";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") threads = std::atoi(value.c_str());
    else if (flag == "--batch") batch = std::atoi(value.c_str());
    else if (flag == "--iterations") iterations = std::atoi(value.c_str());
    else if (flag == "--calibration") calib_images = std::atoi(value.c_str());
    else if (flag == "--precisions") precisions = "fp32," + value;
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
  const Shape in = (*probe)->inputs()[0].shape;
  const Shape chw(in.begin() + 1, in.end());
  auto calibration = std::make_shared<CalibrationSet>();
  for (int k = 0; k < calib_images; k += 8) {
    calibration->samples.push_back({RandomImages(chw, std::min(8, calib_images - k), 100 + k)});
  }
  const Tensor eval = RandomImages(chw, 16, 7);  // never used for calibration
  const Tensor one = RandomImages(chw, 1, 8);
  const Tensor many = RandomImages(chw, batch, 9);

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
    std::vector<Tensor> out;
    if (!(*plan)->Run({eval.view()}, &out).ok()) return 1;
    const float* y = out[0].data_as<float>();
    const size_t n = out[0].byte_size() / 4, classes = n / 16;
    if (precision == Precision::kFp32) {
      reference.assign(y, y + n);
    } else {
      double diff = 0, ref2 = 0, dot = 0, y2 = 0;
      int agree = 0;
      for (size_t i = 0; i < n; ++i) {
        diff += (y[i] - reference[i]) * (y[i] - reference[i]);
        ref2 += reference[i] * reference[i];
        dot += y[i] * reference[i];
        y2 += y[i] * y[i];
      }
      for (size_t r = 0; r < 16; ++r) {
        const float* a = y + r * classes;
        const float* b = reference.data() + r * classes;
        agree += std::max_element(a, a + classes) - a == std::max_element(b, b + classes) - b;
      }
      row.rel_err = std::sqrt(diff / ref2);
      row.cosine = dot / std::sqrt(ref2 * y2);
      row.top1 = agree / 16.0;
    }
    std::vector<double> lat;
    for (int i = 0; i < iterations + 3; ++i) {
      const auto s = std::chrono::steady_clock::now();
      if (!(*plan)->Run({one.view()}, &out).ok()) return 1;
      if (i >= 3) {
        lat.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
      }
    }
    std::sort(lat.begin(), lat.end());
    row.p50_ms = lat[lat.size() / 2];
    const int reps = std::max(2, iterations / 10);
    if (!(*plan)->Run({many.view()}, &out).ok()) return 1;  // warm-up of the shape
    const auto s = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) {
      if (!(*plan)->Run({many.view()}, &out).ok()) return 1;
    }
    const double sec =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
    row.throughput = reps * batch / sec;
    rows.push_back(row);
  }
  std::printf("%s, %d threads, calibration %d random images (%s)\n", model.c_str(), threads,
              calib_images, calibrator_name.c_str());
  std::printf("| precision | build ms | batch 1 p50 ms | batch %d images/s | x FP32 throughput | "
              "rel. L2 error | cosine | top-1 agreement |\n|---|---|---|---|---|---|---|---|\n",
              batch);
  for (const Row& r : rows) {
    std::printf("| %s | %.0f | %.2f | %.1f | %.2f | %.2e | %.6f | %.0f %% |\n", r.name.c_str(),
                r.build_ms, r.p50_ms, r.throughput, r.throughput / rows[0].throughput, r.rel_err,
                r.cosine, r.top1 * 100);
  }
  std::printf("{\"model\": \"%s\", \"threads\": %d, \"batch\": %d, \"rows\": [", model.c_str(),
              threads, batch);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf("%s{\"precision\": \"%s\", \"build_ms\": %.1f, \"p50_ms\": %.3f, "
                "\"throughput\": %.2f, \"rel_err\": %.3e, \"cosine\": %.6f, \"top1\": %.4f}",
                i ? ", " : "", r.name.c_str(), r.build_ms, r.p50_ms, r.throughput, r.rel_err,
                r.cosine, r.top1);
  }
  std::printf("]}\n");
  return 0;
}
