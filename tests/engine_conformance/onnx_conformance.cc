// onnx_conformance: runs ONNX's backend test cases (Debian libonnx-testdata)
// through Nereid's engine and reports, per operator, what passes.
//
//   onnx_conformance [--data DIR] [--suites node,simple,pytorch-converted,pytorch-operator]
//                    [--filter SUBSTRING] [--report FILE.md] [--expected FILE]
//                    [--write-expected FILE] [--verbose]
//
// Each case runs in a forked child with a time limit, so a crashing or
// hanging kernel fails that case only. Exit status: 0 when every case named
// in --expected passed (the regression gate CI runs), 1 otherwise.
//
// Outcomes: pass; fail (ran, wrong answer or run error); unsupported (the
// engine refused the model at load: an op or type it does not implement);
// not-tensor (the model's inputs/outputs are sequences, maps or optionals,
// which the KServe protocol cannot carry; excluded from the pass rate).
#include <onnx/onnx_pb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/ir/onnx_tensor.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

namespace fs = std::filesystem;

enum class Outcome { kPass, kFail, kUnsupported, kNotTensor };
const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPass: return "pass";
    case Outcome::kFail: return "fail";
    case Outcome::kUnsupported: return "unsupported";
    case Outcome::kNotTensor: return "not-tensor";
  }
  return "?";
}

struct CaseResult {
  std::string suite;
  std::string name;
  std::vector<std::string> ops;  // operators this case is counted under
  Outcome outcome = Outcome::kFail;
  std::string detail;
};

// ONNX's own backend-test runner compares with numpy assert_allclose at
// rtol 1e-3, atol 1e-7; using the same tolerance keeps our pass counts
// comparable with other runtimes' (and some expected outputs in the data are
// rounded to 4 decimals, or computed with pi = 3.1415, so a tighter rtol
// would fail correct kernels). Whole models are held to a stricter bound
// (relative L2 1e-4, tests/models/compare_models.py).
constexpr double kRelTolFloat = 1e-3;
constexpr double kAbsTolFloat = 1e-7;
constexpr double kRelTolHalf = 1e-3;
constexpr double kRelTolBf16 = 1e-2;

std::string ReadFile(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

bool IsTensorType(const onnx::TypeProto& t) { return t.has_tensor_type(); }

// Operators the case exercises: the graph's node op types (for an
// "_expanded" case, the op of its non-expanded sibling when known).
std::vector<std::string> OpsOf(const onnx::ModelProto& model) {
  std::set<std::string> ops;
  for (const auto& n : model.graph().node()) {
    ops.insert(n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type()
                                                              : n.domain() + ":" + n.op_type());
  }
  return {ops.begin(), ops.end()};
}

std::vector<Tensor> ReadTensors(const fs::path& dir, const std::string& stem, std::string* error) {
  std::vector<Tensor> tensors;
  for (int i = 0;; ++i) {
    fs::path p = dir / (stem + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    auto t = TensorFromOnnxBytes(ReadFile(p));
    if (!t.ok()) {
      *error = p.filename().string() + ": " + t.status().message();
      return {};
    }
    tensors.push_back(std::move(t).value());
  }
  return tensors;
}

double RelTol(DataType dtype) {
  if (dtype == DataType::kFp16) return kRelTolHalf;
  if (dtype == DataType::kBf16) return kRelTolBf16;
  return kRelTolFloat;
}

std::string Compare(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) {
    return "dtype " + std::string(DataTypeName(got.dtype())) + " vs expected " +
           std::string(DataTypeName(want.dtype()));
  }
  if (got.shape() != want.shape()) {
    return "shape " + ShapeToString(got.shape()) + " vs expected " + ShapeToString(want.shape());
  }
  if (got.byte_size() != want.byte_size()) return "byte size differs";
  if (got.dtype() == DataType::kBytes) {
    return std::memcmp(got.data(), want.data(), got.byte_size()) ? "strings differ" : "";
  }
  std::string error;
  Status s = ref::DispatchNumericOrBool(got.dtype(), "compare", [&]<typename T>() -> Status {
    const size_t n = got.byte_size() / sizeof(T);
    const T* g = got.data_as<T>();
    const T* w = want.data_as<T>();
    for (size_t i = 0; i < n && error.empty(); ++i) {
      if constexpr (ref::kIsFloating<T>) {
        const double gv = static_cast<double>(g[i]);
        const double wv = static_cast<double>(w[i]);
        if ((std::isnan(gv) && std::isnan(wv)) || gv == wv) continue;
        if (std::fabs(gv - wv) > kAbsTolFloat + RelTol(got.dtype()) * std::fabs(wv)) {
          error = "element " + std::to_string(i) + ": " + std::to_string(gv) + " vs expected " +
                  std::to_string(wv);
        }
      } else if (std::memcmp(&g[i], &w[i], sizeof(T)) != 0) {
        error = "element " + std::to_string(i) + " differs";
      }
    }
    return Status::Ok();
  });
  return s.ok() ? error : s.ToString();
}

// ONNX 1.12 stores BFLOAT16 test tensors as UINT16; relabel where the model
// declares BF16.
void FixBf16Labels(const std::vector<ValueInfo>& infos, std::vector<Tensor>* tensors) {
  for (size_t i = 0; i < tensors->size() && i < infos.size(); ++i) {
    Tensor& t = (*tensors)[i];
    if (infos[i].dtype == DataType::kBf16 && t.dtype() == DataType::kUint16) {
      t = Tensor::Wrap(DataType::kBf16, t.shape(), t.data(), t.byte_size(), t.owner());
    }
  }
}

// Runs one case in this process. Returns outcome and detail.
std::pair<Outcome, std::string> RunCase(const fs::path& dir) {
  auto plan = Plan::FromOnnxFile((dir / "model.onnx").string(), CompileOptions{});
  if (!plan.ok()) {
    Outcome o = plan.status().code() == StatusCode::kUnimplemented ? Outcome::kUnsupported
                                                                     : Outcome::kFail;
    return {o, plan.status().message()};
  }
  int data_sets = 0;
  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      sets.push_back(entry.path());
    }
  }
  std::sort(sets.begin(), sets.end());
  for (const auto& set : sets) {
    ++data_sets;
    std::string error;
    std::vector<Tensor> inputs = ReadTensors(set, "input", &error);
    std::vector<Tensor> want = ReadTensors(set, "output", &error);
    if (!error.empty()) return {Outcome::kFail, "reading test data: " + error};
    FixBf16Labels((*plan)->inputs(), &inputs);
    FixBf16Labels((*plan)->outputs(), &want);
    std::vector<TensorView> views;
    for (const Tensor& t : inputs) views.push_back(t.view());
    // Twice: the first run of these shapes records the memory plan, the
    // second runs from it (engine/runtime/memory_plan.h).
    for (const char* run : {"", "planned run: "}) {
      std::vector<Tensor> got;
      Status s = (*plan)->Run(views, &got);
      std::string where = set.filename().string() + ": " + run;
      if (!s.ok()) return {Outcome::kFail, where + s.message()};
      if (got.size() != want.size()) return {Outcome::kFail, where + "output count differs"};
      for (size_t i = 0; i < want.size(); ++i) {
        std::string diff = Compare(got[i], want[i]);
        if (!diff.empty()) {
          return {Outcome::kFail, where + "output " + std::to_string(i) + ": " + diff};
        }
      }
    }
  }
  if (data_sets == 0) return {Outcome::kFail, "no test_data_set_* folder"};
  return {Outcome::kPass, ""};
}

// Runs a case in a forked child (crash- and hang-proof).
std::pair<Outcome, std::string> RunIsolated(const fs::path& dir, int timeout_secs) {
  int fds[2];
  if (pipe(fds) != 0) return RunCase(dir);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(timeout_secs);
    auto [o, detail] = RunCase(dir);
    std::string msg = std::to_string(static_cast<int>(o)) + "\n" + detail.substr(0, 400);
    ssize_t unused = write(fds[1], msg.data(), msg.size());
    (void)unused;
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    return {Outcome::kFail, std::string("crashed: ") + strsignal(WTERMSIG(status))};
  }
  size_t nl = msg.find('\n');
  if (nl == std::string::npos) return {Outcome::kFail, "no result from child"};
  return {static_cast<Outcome>(std::stoi(msg.substr(0, nl))), msg.substr(nl + 1)};
}

struct Options {
  std::string data = "/usr/share/libonnx-testdata/data";
  std::vector<std::string> suites = {"node", "simple", "pytorch-converted", "pytorch-operator"};
  std::string filter;
  std::string report;
  std::string expected;
  std::string write_expected;
  bool verbose = false;
  int timeout_secs = 120;
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<CaseResult> RunAll(const Options& opt) {
  std::vector<CaseResult> results;
  for (const auto& suite : opt.suites) {
    fs::path root = fs::path(opt.data) / suite;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) continue;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(root, ec)) {
      if (fs::exists(e.path() / "model.onnx")) names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    // Ops of each case, to attribute "_expanded" cases to their sibling's op.
    std::map<std::string, std::vector<std::string>> ops_by_case;
    std::map<std::string, bool> tensor_only;
    for (const auto& name : names) {
      onnx::ModelProto model;
      std::string bytes = ReadFile(root / name / "model.onnx");
      bool parsed = model.ParseFromString(bytes);
      ops_by_case[name] = parsed ? OpsOf(model) : std::vector<std::string>{"(unparsable)"};
      bool tensors = parsed;
      for (const auto& v : model.graph().input()) tensors &= IsTensorType(v.type());
      for (const auto& v : model.graph().output()) tensors &= IsTensorType(v.type());
      tensor_only[name] = tensors;
    }
    for (const auto& name : names) {
      if (!opt.filter.empty() && name.find(opt.filter) == std::string::npos) continue;
      CaseResult r;
      r.suite = suite;
      r.name = name;
      r.ops = ops_by_case[name];
      const std::string kExpanded = "_expanded";
      if (suite == "node" && name.size() > kExpanded.size() &&
          name.compare(name.size() - kExpanded.size(), kExpanded.size(), kExpanded) == 0) {
        auto sibling = ops_by_case.find(name.substr(0, name.size() - kExpanded.size()));
        if (sibling != ops_by_case.end() && sibling->second.size() == 1) r.ops = sibling->second;
      }
      if (suite != "node") r.ops = {suite};  // whole-model suites count as one row each
      if (!tensor_only[name]) {
        r.outcome = Outcome::kNotTensor;
        r.detail = "inputs or outputs are not tensors (sequence/map/optional)";
      } else {
        std::tie(r.outcome, r.detail) = RunIsolated(root / name, opt.timeout_secs);
      }
      if (opt.verbose || r.outcome == Outcome::kFail) {
        std::printf("%-11s %s/%s %s\n", OutcomeName(r.outcome), suite.c_str(), name.c_str(),
                    r.detail.c_str());
      }
      results.push_back(std::move(r));
    }
  }
  return results;
}

void WriteReport(const Options& opt, const std::vector<CaseResult>& results) {
  struct Row {
    int pass = 0, fail = 0, unsupported = 0, not_tensor = 0;
  };
  std::map<std::string, Row> by_op;
  std::map<std::string, Row> by_suite;
  for (const auto& r : results) {
    auto bump = [&](Row& row) {
      switch (r.outcome) {
        case Outcome::kPass: ++row.pass; break;
        case Outcome::kFail: ++row.fail; break;
        case Outcome::kUnsupported: ++row.unsupported; break;
        case Outcome::kNotTensor: ++row.not_tensor; break;
      }
    };
    bump(by_suite[r.suite]);
    if (r.suite == "node") {
      for (const auto& op : r.ops) bump(by_op[op]);
    }
  }
  std::ofstream out(opt.report);
  out << "# ONNX operator support\n\n"
      << "Generated by `tools/update_onnx_support.sh` (the `onnx_conformance` runner over "
         "Debian's libonnx-testdata, ONNX 1.12). Do not edit by hand.\n\n"
      << "Tolerance: floating outputs match when |got - want| <= " << kAbsTolFloat << " + "
      << kRelTolFloat << " x |want| (ONNX's own backend-test tolerance; " << kRelTolBf16
      << " relative for BF16); integers, bools and strings must be equal.\n\n"
      << "Outcomes: **pass**; **fail** (ran but the answer or run differs); **unsupported** "
         "(refused at load with the node and op named); **not-tensor** (sequence/map/optional "
         "inputs or outputs, which the KServe protocol cannot carry; left out of the pass "
         "rate).\n\n## Summary\n\n| suite | pass | fail | unsupported | not-tensor | pass rate "
         "(of tensor cases) |\n|---|---|---|---|---|---|\n";
  char pct[32];
  for (const auto& [suite, row] : by_suite) {
    int tensor_cases = row.pass + row.fail + row.unsupported;
    std::snprintf(pct, sizeof(pct), "%.1f%%", tensor_cases ? 100.0 * row.pass / tensor_cases : 0.0);
    out << "| " << suite << " | " << row.pass << " | " << row.fail << " | " << row.unsupported
        << " | " << row.not_tensor << " | " << pct << " (" << row.pass << "/" << tensor_cases
        << ") |\n";
  }
  out << "\n## Node tests by operator\n\nAn \"_expanded\" case (the op written as its ONNX "
         "function body) counts under the op it expands.\n\n"
         "| operator | pass | fail | unsupported | not-tensor |\n|---|---|---|---|---|\n";
  for (const auto& [op, row] : by_op) {
    out << "| " << op << " | " << row.pass << " | " << row.fail << " | " << row.unsupported
        << " | " << row.not_tensor << " |\n";
  }
  out << "\n## Failing cases\n\n";
  bool any = false;
  for (const auto& r : results) {
    if (r.outcome != Outcome::kFail) continue;
    any = true;
    std::string detail = r.detail.substr(0, 200);
    std::replace(detail.begin(), detail.end(), '|', '/');
    std::replace(detail.begin(), detail.end(), '\n', ' ');
    out << "- `" << r.suite << "/" << r.name << "`: " << detail << "\n";
  }
  if (!any) out << "None.\n";
}

int Main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") opt.data = value();
    else if (a == "--suites") opt.suites = Split(value(), ',');
    else if (a == "--filter") opt.filter = value();
    else if (a == "--report") opt.report = value();
    else if (a == "--expected") opt.expected = value();
    else if (a == "--write-expected") opt.write_expected = value();
    else if (a == "--timeout-secs") opt.timeout_secs = std::stoi(value());
    else if (a == "--verbose") opt.verbose = true;
    else {
      std::fprintf(stderr, "unknown argument '%s' (see the comment at the top of %s)\n",
                   a.c_str(), __FILE__);
      return 2;
    }
  }
  if (!fs::is_directory(opt.data)) {
    std::printf("test data %s is absent (install libonnx-testdata); nothing to run\n",
                opt.data.c_str());
    return opt.expected.empty() ? 0 : 1;
  }
  std::vector<CaseResult> results = RunAll(opt);
  std::map<Outcome, int> totals;
  std::map<std::string, Outcome> outcome_of;
  for (const auto& r : results) {
    ++totals[r.outcome];
    outcome_of[r.suite + "/" + r.name] = r.outcome;
  }
  std::printf("onnx_conformance: %d passed, %d failed, %d unsupported, %d not-tensor\n",
              totals[Outcome::kPass], totals[Outcome::kFail], totals[Outcome::kUnsupported],
              totals[Outcome::kNotTensor]);
  if (!opt.report.empty()) WriteReport(opt, results);
  if (!opt.write_expected.empty()) {
    std::ofstream out(opt.write_expected);
    out << "# Cases that must keep passing (regression gate). Regenerate with\n"
           "# tools/update_onnx_support.sh after adding support.\n";
    for (const auto& [name, o] : outcome_of) {
      if (o == Outcome::kPass) out << name << "\n";
    }
  }
  int regressions = 0;
  if (!opt.expected.empty()) {
    std::ifstream in(opt.expected);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", opt.expected.c_str());
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto it = outcome_of.find(line);
      if (it == outcome_of.end()) {
        if (!opt.filter.empty()) continue;
        std::printf("REGRESSION %s: case not found\n", line.c_str());
        ++regressions;
      } else if (it->second != Outcome::kPass) {
        std::printf("REGRESSION %s: %s\n", line.c_str(), OutcomeName(it->second));
        ++regressions;
      }
    }
    std::printf("%d passed, %d failed\n", totals[Outcome::kPass], regressions);
  }
  return regressions ? 1 : 0;
}

}  // namespace
}  // namespace nereid::engine

int main(int argc, char** argv) { return nereid::engine::Main(argc, argv); }
