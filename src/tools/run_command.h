// `nereid run`: one-shot local inference of an ONNX model, or of a compiled
// plan (`nereid compile`'s output, recognized by its magic), on Nereid's engine.
//
//   nereid run MODEL.onnx|MODEL.plan [--input NAME=FILE.npy ...] [--batch N] [--iterations K]
//              [--warmup W] [--threads T] [--save-outputs DIR]
//              [--profile] [--no-memory-plan]
//
// Inputs not given get fixed-seed random data (symbolic first dimension =
// --batch). Prints each output's shape and summary, latency percentiles and
// the memory plan (arena vs naive and heap peak); --profile adds the time per step
// (fused node) and per op type, like trtexec's per-layer profile.
#pragma once

#include <map>
#include <string>

namespace nereid::tools {

struct RunOptions {
  std::string model;
  std::map<std::string, std::string> inputs;  // name -> .npy path
  int batch = 1;
  int iterations = 1;
  int warmup = 0;
  int threads = 1;
  std::string save_outputs;  // directory for <output>.npy, empty: none
  bool profile = false;      // per-step timing over the timed runs
  bool no_memory_plan = false;  // CompileOptions::memory_planning and in_place off
};

// Returns the process exit status (0 on success); errors go to stderr.
int RunModel(const RunOptions& options);

}  // namespace nereid::tools
