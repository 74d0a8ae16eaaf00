// RNN, GRU and LSTM (opsets 1..14), one shared driver with three cells.
//
// Layouts: layout 0 (default) is X [seq, batch, input], Y [seq, dirs, batch,
// hidden], states [dirs, batch, hidden]; layout 1 (opset 14) is X [batch,
// seq, input], Y [batch, seq, dirs, hidden], states [batch, dirs, hidden].
// Gate order in W/R/B: GRU z,r,h; LSTM i,o,f,c; peepholes P i,o,f.
//
// sequence_lens: batch entry b runs over its first len(b) steps only (a
// reverse direction runs from len(b)-1 down to 0); Y is zero past len(b) and
// Y_h / Y_c hold the state after the last step run (the initial state when
// len(b) is 0).
//
// Activations follow the ONNX list; activation_alpha / activation_beta are
// consumed in order by the functions that take them (ONNX Runtime's rule),
// the others use the defaults of the matching ONNX operator. A list with
// only one direction's functions is reused for the backward direction.
// `clip` bounds every gate's pre-activation (not the cell state fed to h).
// Computation is in float (double for double inputs).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/ref/rnn_detect_util.h"

namespace nereid::engine::ref {
namespace {

enum class Cell { kRnn, kGru, kLstm };

int GatesOf(Cell cell) { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4; }
int ActivationsPerDirection(Cell cell) {
  return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 2 : 3;
}
const char* CellName(Cell cell) {
  return cell == Cell::kRnn ? "RNN" : cell == Cell::kGru ? "GRU" : "LSTM";
}

enum class ActKind {
  kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid,
  kElu, kSoftsign, kSoftplus
};

struct Activation {
  ActKind kind = ActKind::kTanh;
  float alpha = 0.0f;
  float beta = 0.0f;

  template <typename C>
  C operator()(C x) const {
    const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
    switch (kind) {
      case ActKind::kRelu: return std::max(x, C{0});
      case ActKind::kTanh: return std::tanh(x);
      case ActKind::kSigmoid: return C{1} / (C{1} + std::exp(-x));
      case ActKind::kAffine: return a * x + b;
      case ActKind::kLeakyRelu: return x >= 0 ? x : a * x;
      case ActKind::kThresholdedRelu: return x > a ? x : C{0};
      case ActKind::kScaledTanh: return a * std::tanh(b * x);
      case ActKind::kHardSigmoid: return std::min(std::max(a * x + b, C{0}), C{1});
      case ActKind::kElu: return x >= 0 ? x : a * (std::exp(x) - C{1});
      case ActKind::kSoftsign: return x / (C{1} + std::abs(x));
      case ActKind::kSoftplus: return std::log1p(std::exp(x));
    }
    return x;
  }
};

// Parses one activation name; `uses_alpha/uses_beta` report which of the
// scaling lists it consumes, with the ONNX operator defaults filled in.
StatusOr<Activation> ParseActivation(const std::string& name, bool* uses_alpha, bool* uses_beta) {
  struct Entry { const char* name; ActKind kind; bool a; bool b; float da; float db; };
  static const Entry kTable[] = {
      {"relu", ActKind::kRelu, false, false, 0, 0},
      {"tanh", ActKind::kTanh, false, false, 0, 0},
      {"sigmoid", ActKind::kSigmoid, false, false, 0, 0},
      {"affine", ActKind::kAffine, true, true, 1.0f, 0.0f},
      {"leakyrelu", ActKind::kLeakyRelu, true, false, 0.01f, 0},
      {"thresholdedrelu", ActKind::kThresholdedRelu, true, false, 1.0f, 0},
      {"scaledtanh", ActKind::kScaledTanh, true, true, 1.0f, 1.0f},
      {"hardsigmoid", ActKind::kHardSigmoid, true, true, 0.2f, 0.5f},
      {"elu", ActKind::kElu, true, false, 1.0f, 0},
      {"softsign", ActKind::kSoftsign, false, false, 0, 0},
      {"softplus", ActKind::kSoftplus, false, false, 0, 0},
  };
  const std::string lower = AsciiLower(name);
  for (const Entry& e : kTable) {
    if (lower == e.name) {
      *uses_alpha = e.a;
      *uses_beta = e.b;
      return Activation{e.kind, e.da, e.db};
    }
  }
  return Unimplemented("attribute 'activations': unsupported activation function '" + name + "'");
}

struct RnnConfig {
  Cell cell = Cell::kRnn;
  int64_t hidden_size = -1;  // -1: taken from R
  int num_directions = 1;
  bool reverse_only = false;  // direction == "reverse"
  bool batch_major = false;   // layout == 1
  std::optional<float> clip;
  bool linear_before_reset = false;
  bool input_forget = false;
  std::vector<Activation> activations;  // ActivationsPerDirection * num_directions
  bool want_y = false, want_h = false, want_c = false;
};

StatusOr<std::vector<Activation>> ParseActivations(const Node& node, Cell cell, int dirs) {
  const int per_dir = ActivationsPerDirection(cell);
  std::vector<std::string> names;
  if (const Attribute* a = node.FindAttribute("activations")) {
    if (a->kind != Attribute::Kind::kStrings) {
      return InvalidArgument("attribute 'activations' must be a list of strings");
    }
    names = a->strings;
  } else if (cell == Cell::kRnn) {
    names = {"Tanh", "Tanh"};
  } else if (cell == Cell::kGru) {
    names = {"Sigmoid", "Tanh", "Sigmoid", "Tanh"};
  } else {
    names = {"Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh", "Tanh"};
  }
  if (dirs == 2 && static_cast<int>(names.size()) == per_dir) {
    std::vector<std::string> copy = names;
    names.insert(names.end(), copy.begin(), copy.end());
  }
  if (static_cast<int>(names.size()) < per_dir * dirs) {
    return InvalidArgument("attribute 'activations' has " + std::to_string(names.size()) +
                           " entries, " + CellName(cell) + " needs " +
                           std::to_string(per_dir * dirs));
  }
  names.resize(per_dir * dirs);
  std::vector<float> alphas, betas;
  if (const Attribute* a = node.FindAttribute("activation_alpha")) {
    if (a->kind != Attribute::Kind::kFloats) {
      return InvalidArgument("attribute 'activation_alpha' must be a list of floats");
    }
    alphas = a->floats;
  }
  if (const Attribute* b = node.FindAttribute("activation_beta")) {
    if (b->kind != Attribute::Kind::kFloats) {
      return InvalidArgument("attribute 'activation_beta' must be a list of floats");
    }
    betas = b->floats;
  }
  std::vector<Activation> acts;
  size_t ai = 0, bi = 0;
  for (const std::string& name : names) {
    bool uses_alpha = false, uses_beta = false;
    ASSIGN_OR_RETURN(Activation act, ParseActivation(name, &uses_alpha, &uses_beta));
    if (uses_alpha && ai < alphas.size()) act.alpha = alphas[ai++];
    if (uses_beta && bi < betas.size()) act.beta = betas[bi++];
    acts.push_back(act);
  }
  return acts;
}

// The tensors of one run, converted to the computation type C.
template <typename C>
struct RnnData {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;
  std::vector<C> x, w, r, b, h0, c0, p;
  std::vector<int64_t> lens;
};

Status CheckShape(const Tensor* t, const Shape& want, const char* what) {
  if (t != nullptr && t->shape() != want) {
    return InvalidArgument(std::string(what) + " has shape " + ShapeToString(t->shape()) +
                           ", expected " + ShapeToString(want));
  }
  return Status::Ok();
}

class RnnKernel final : public Kernel {
 public:
  explicit RnnKernel(RnnConfig config) : cfg_(std::move(config)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, cfg_.cell == Cell::kLstm ? 8 : 6));
    const Tensor& x = *inputs[0];
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i != 4 && inputs[i] != nullptr && inputs[i]->dtype() != x.dtype()) {
        return InvalidArgument("input " + std::to_string(i) + " has element type " +
                               std::string(DataTypeName(inputs[i]->dtype())) + ", X has " +
                               std::string(DataTypeName(x.dtype())));
      }
    }
    return DispatchFloat(x.dtype(), CellName(cfg_.cell), [&]<typename T>() -> Status {
      using C = ComputeType<T>;
      RnnData<C> d;
      RETURN_IF_ERROR(Load<C>(inputs, &d));
      return Compute<T, C>(d, outputs);
    });
  }

 private:
  const Tensor* Opt(std::span<const Tensor* const> inputs, size_t i) const {
    return i < inputs.size() ? inputs[i] : nullptr;
  }

  template <typename C>
  Status Load(std::span<const Tensor* const> inputs, RnnData<C>* d) const {
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[1];
    const Tensor& r = *inputs[2];
    if (x.shape().size() != 3 || w.shape().size() != 3 || r.shape().size() != 3) {
      return InvalidArgument("X, W and R must have rank 3, got " + ShapeToString(x.shape()) +
                             ", " + ShapeToString(w.shape()) + ", " + ShapeToString(r.shape()));
    }
    const int64_t gates = GatesOf(cfg_.cell);
    d->dirs = cfg_.num_directions;
    d->seq = x.shape()[cfg_.batch_major ? 1 : 0];
    d->batch = x.shape()[cfg_.batch_major ? 0 : 1];
    d->input = x.shape()[2];
    d->hidden = cfg_.hidden_size >= 0 ? cfg_.hidden_size : r.shape()[2];
    const int64_t gh = gates * d->hidden;
    RETURN_IF_ERROR(CheckShape(&w, {d->dirs, gh, d->input}, "W"));
    RETURN_IF_ERROR(CheckShape(&r, {d->dirs, gh, d->hidden}, "R"));
    RETURN_IF_ERROR(CheckShape(Opt(inputs, 3), {d->dirs, 2 * gh}, "B"));
    const Shape state = cfg_.batch_major ? Shape{d->batch, d->dirs, d->hidden}
                                         : Shape{d->dirs, d->batch, d->hidden};
    RETURN_IF_ERROR(CheckShape(Opt(inputs, 5), state, "initial_h"));
    RETURN_IF_ERROR(CheckShape(Opt(inputs, 6), state, "initial_c"));
    RETURN_IF_ERROR(CheckShape(Opt(inputs, 7), {d->dirs, 3 * d->hidden}, "P"));
    ASSIGN_OR_RETURN(d->x, ReadAsFloating<C>(x, "X"));
    ASSIGN_OR_RETURN(d->w, ReadAsFloating<C>(w, "W"));
    ASSIGN_OR_RETURN(d->r, ReadAsFloating<C>(r, "R"));
    d->b.assign(static_cast<size_t>(d->dirs * 2 * gh), C{0});
    d->h0.assign(static_cast<size_t>(d->dirs * d->batch * d->hidden), C{0});
    d->c0 = d->h0;
    d->p.assign(static_cast<size_t>(d->dirs * 3 * d->hidden), C{0});
    if (const Tensor* t = Opt(inputs, 3)) {
      ASSIGN_OR_RETURN(d->b, ReadAsFloating<C>(*t, "B"));
    }
    if (const Tensor* t = Opt(inputs, 5)) {
      ASSIGN_OR_RETURN(d->h0, ReadAsFloating<C>(*t, "initial_h"));
    }
    if (const Tensor* t = Opt(inputs, 6)) {
      ASSIGN_OR_RETURN(d->c0, ReadAsFloating<C>(*t, "initial_c"));
    }
    if (const Tensor* t = Opt(inputs, 7)) {
      ASSIGN_OR_RETURN(d->p, ReadAsFloating<C>(*t, "P"));
    }
    d->lens.assign(static_cast<size_t>(d->batch), d->seq);
    if (const Tensor* t = Opt(inputs, 4)) {
      if (t->dtype() != DataType::kInt32) {
        return InvalidArgument("sequence_lens must be INT32, got " +
                               std::string(DataTypeName(t->dtype())));
      }
      RETURN_IF_ERROR(CheckShape(t, {d->batch}, "sequence_lens"));
      ASSIGN_OR_RETURN(d->lens, ReadAsInt64(*t, "sequence_lens"));
      for (int64_t len : d->lens) {
        if (len < 0 || len > d->seq) {
          return InvalidArgument("sequence_lens value " + std::to_string(len) +
                                 " is outside [0, " + std::to_string(d->seq) + "]");
        }
      }
    }
    return Status::Ok();
  }

  // Offsets into X / Y / state tensors for the configured layout.
  template <typename C>
  int64_t XAt(const RnnData<C>& d, int64_t t, int64_t b) const {
    return (cfg_.batch_major ? b * d.seq + t : t * d.batch + b) * d.input;
  }
  template <typename C>
  int64_t YAt(const RnnData<C>& d, int64_t t, int64_t dir, int64_t b) const {
    return (cfg_.batch_major ? (b * d.seq + t) * d.dirs + dir : (t * d.dirs + dir) * d.batch + b) *
           d.hidden;
  }
  template <typename C>
  int64_t StateAt(const RnnData<C>& d, int64_t dir, int64_t b) const {
    return (cfg_.batch_major ? b * d.dirs + dir : dir * d.batch + b) * d.hidden;
  }

  template <typename C>
  C Clip(C v) const {
    if (!cfg_.clip) return v;
    const C c = static_cast<C>(*cfg_.clip);
    return std::min(std::max(v, -c), c);
  }

  template <typename T, typename C>
  Status Compute(const RnnData<C>& d, std::span<Tensor> outputs) const {
    const Shape y_shape = cfg_.batch_major ? Shape{d.batch, d.seq, d.dirs, d.hidden}
                                           : Shape{d.seq, d.dirs, d.batch, d.hidden};
    const Shape state = cfg_.batch_major ? Shape{d.batch, d.dirs, d.hidden}
                                         : Shape{d.dirs, d.batch, d.hidden};
    ASSIGN_OR_RETURN(int64_t y_count, ElementCount(y_shape));
    std::vector<C> y(static_cast<size_t>(y_count), C{0});
    std::vector<C> yh = d.h0, yc = d.c0;
    for (int64_t dir = 0; dir < d.dirs; ++dir) {
      const bool reverse = cfg_.reverse_only || dir == 1;
      for (int64_t b = 0; b < d.batch; ++b) {
        C* h = yh.data() + StateAt(d, dir, b);
        C* c = yc.data() + StateAt(d, dir, b);
        const int64_t len = d.lens[b];
        for (int64_t step = 0; step < len; ++step) {
          const int64_t t = reverse ? len - 1 - step : step;
          Step(d, dir, d.x.data() + XAt(d, t, b), h, c);
          std::copy(h, h + d.hidden, y.data() + YAt(d, t, dir, b));
        }
      }
    }
    const std::vector<C>* results[3] = {&y, &yh, &yc};
    const Shape* shapes[3] = {&y_shape, &state, &state};
    const bool wanted[3] = {cfg_.want_y, cfg_.want_h, cfg_.want_c};
    for (size_t i = 0; i < outputs.size() && i < 3; ++i) {
      if (!wanted[i]) continue;
      ASSIGN_OR_RETURN(outputs[i], AllocateOutput(DataTypeOf<T>(), *shapes[i]));
      T* out = outputs[i].mutable_data_as<T>();
      for (size_t k = 0; k < results[i]->size(); ++k) out[k] = Convert<T>((*results[i])[k]);
    }
    return Status::Ok();
  }

  template <typename T>
  static DataType DataTypeOf() {
    if constexpr (std::is_same_v<T, double>) return DataType::kFp64;
    if constexpr (std::is_same_v<T, float>) return DataType::kFp32;
    if constexpr (std::is_same_v<T, Fp16>) return DataType::kFp16;
    return DataType::kBf16;
  }

  // gates[g*H + j] = W[g*H+j] . x + Wb + (R[g*H+j] . h + Rb unless skip_r_for_gate == g).
  template <typename C>
  void Project(const RnnData<C>& d, int64_t dir, const C* x, const C* h, std::vector<C>* wx,
               std::vector<C>* rh) const {
    const int64_t gh = GatesOf(cfg_.cell) * d.hidden;
    const C* w = d.w.data() + dir * gh * d.input;
    const C* r = d.r.data() + dir * gh * d.hidden;
    const C* wb = d.b.data() + dir * 2 * gh;
    const C* rb = wb + gh;
    for (int64_t row = 0; row < gh; ++row) {
      C sx = wb[row];
      for (int64_t k = 0; k < d.input; ++k) sx += w[row * d.input + k] * x[k];
      C sh = rb[row];
      for (int64_t k = 0; k < d.hidden; ++k) sh += r[row * d.hidden + k] * h[k];
      (*wx)[row] = sx;
      (*rh)[row] = sh;
    }
  }

  template <typename C>
  void Step(const RnnData<C>& d, int64_t dir, const C* x, C* h, C* c) const {
    const int64_t H = d.hidden;
    const int per_dir = ActivationsPerDirection(cfg_.cell);
    const Activation* act = cfg_.activations.data() + dir * per_dir;
    std::vector<C> wx(GatesOf(cfg_.cell) * H), rh(GatesOf(cfg_.cell) * H);
    Project(d, dir, x, h, &wx, &rh);
    if (cfg_.cell == Cell::kRnn) {
      for (int64_t j = 0; j < H; ++j) h[j] = act[0](Clip(wx[j] + rh[j]));
    } else if (cfg_.cell == Cell::kGru) {
      GruStep(d, dir, act, wx, rh, h);
    } else {
      const C* p = d.p.data() + dir * 3 * H;  // P order i, o, f
      for (int64_t j = 0; j < H; ++j) {
        const C i_gate = act[0](Clip(wx[j] + rh[j] + p[j] * c[j]));
        C f_gate = act[0](Clip(wx[2 * H + j] + rh[2 * H + j] + p[2 * H + j] * c[j]));
        if (cfg_.input_forget) f_gate = C{1} - i_gate;
        const C cell_in = act[1](Clip(wx[3 * H + j] + rh[3 * H + j]));
        c[j] = f_gate * c[j] + i_gate * cell_in;
        const C o_gate = act[0](Clip(wx[H + j] + rh[H + j] + p[H + j] * c[j]));
        h[j] = o_gate * act[2](c[j]);
      }
    }
  }

  template <typename C>
  void GruStep(const RnnData<C>& d, int64_t dir, const Activation* act, const std::vector<C>& wx,
               const std::vector<C>& rh, C* h) const {
    const int64_t H = d.hidden;
    std::vector<C> z(H), r(H), cand(H);
    for (int64_t j = 0; j < H; ++j) {
      z[j] = act[0](Clip(wx[j] + rh[j]));
      r[j] = act[0](Clip(wx[H + j] + rh[H + j]));
    }
    if (cfg_.linear_before_reset) {
      for (int64_t j = 0; j < H; ++j) cand[j] = act[1](Clip(wx[2 * H + j] + r[j] * rh[2 * H + j]));
    } else {
      // Rh . (r (.) h) + Rbh, recomputed since the reset applies before R.
      const int64_t gh = 3 * H;
      const C* rh_w = d.r.data() + dir * gh * H + 2 * H * H;
      const C* rbh = d.b.data() + dir * 2 * gh + gh + 2 * H;
      for (int64_t j = 0; j < H; ++j) {
        C s = rbh[j];
        for (int64_t k = 0; k < H; ++k) s += rh_w[j * H + k] * (r[k] * h[k]);
        cand[j] = act[1](Clip(wx[2 * H + j] + s));
      }
    }
    for (int64_t j = 0; j < H; ++j) h[j] = (C{1} - z[j]) * cand[j] + z[j] * h[j];
  }

  RnnConfig cfg_;
};

StatusOr<std::unique_ptr<Kernel>> MakeRecurrent(const KernelBuildContext& context, Cell cell) {
  const Node& node = context.node;
  const size_t max_inputs = cell == Cell::kLstm ? 8 : 6;
  const size_t max_outputs = cell == Cell::kLstm ? 3 : 2;
  if (node.inputs.size() < 3 || node.inputs.size() > max_inputs) {
    return InvalidArgument(std::string(CellName(cell)) + " takes 3 to " +
                           std::to_string(max_inputs) + " inputs, got " +
                           std::to_string(node.inputs.size()));
  }
  if (node.outputs.size() > max_outputs) {
    return InvalidArgument(std::string(CellName(cell)) + " produces at most " +
                           std::to_string(max_outputs) + " outputs");
  }
  RnnConfig cfg;
  cfg.cell = cell;
  ASSIGN_OR_RETURN(std::string direction, node.GetString("direction", "forward"));
  if (direction == "bidirectional") {
    cfg.num_directions = 2;
  } else if (direction == "reverse") {
    cfg.reverse_only = true;
  } else if (direction != "forward") {
    return InvalidArgument(
        "attribute 'direction' must be forward, reverse or bidirectional, got '" + direction + "'");
  }
  ASSIGN_OR_RETURN(cfg.hidden_size, node.GetInt("hidden_size", -1));
  if (node.FindAttribute("hidden_size") != nullptr && cfg.hidden_size <= 0) {
    return InvalidArgument("attribute 'hidden_size' must be positive");
  }
  ASSIGN_OR_RETURN(int64_t layout, node.GetInt("layout", 0));
  if (layout != 0 && layout != 1) {
    return InvalidArgument("attribute 'layout' must be 0 or 1, got " + std::to_string(layout));
  }
  if (layout == 1 && context.opset < 14) {
    return InvalidArgument("attribute 'layout' needs opset 14");
  }
  cfg.batch_major = layout == 1;
  if (node.FindAttribute("clip") != nullptr) {
    ASSIGN_OR_RETURN(float clip, node.GetFloat("clip"));
    if (!(clip > 0.0f)) return InvalidArgument("attribute 'clip' must be positive");
    cfg.clip = clip;
  }
  ASSIGN_OR_RETURN(int64_t lbr, node.GetInt("linear_before_reset", 0));
  cfg.linear_before_reset = cell == Cell::kGru && lbr != 0;
  ASSIGN_OR_RETURN(int64_t input_forget, node.GetInt("input_forget", 0));
  cfg.input_forget = cell == Cell::kLstm && input_forget != 0;
  ASSIGN_OR_RETURN(cfg.activations, ParseActivations(node, cell, cfg.num_directions));
  cfg.want_y = HasOutput(node, 0);
  cfg.want_h = HasOutput(node, 1);
  cfg.want_c = HasOutput(node, 2);
  for (size_t i = 0; i < context.input_dtypes.size(); ++i) {
    const DataType dt = context.input_dtypes[i];
    if (i == 4 || dt == DataType::kInvalid) continue;
    if (dt != DataType::kFp32 && dt != DataType::kFp64 && dt != DataType::kFp16 &&
        dt != DataType::kBf16) {
      return UnsupportedDtype(CellName(cell), dt);
    }
  }
  return std::unique_ptr<Kernel>(new RnnKernel(std::move(cfg)));
}

StatusOr<std::unique_ptr<Kernel>> MakeRnn(const KernelBuildContext& c) {
  return MakeRecurrent(c, Cell::kRnn);
}
StatusOr<std::unique_ptr<Kernel>> MakeGru(const KernelBuildContext& c) {
  return MakeRecurrent(c, Cell::kGru);
}
StatusOr<std::unique_ptr<Kernel>> MakeLstm(const KernelBuildContext& c) {
  return MakeRecurrent(c, Cell::kLstm);
}

NEREID_REGISTER_KERNEL("", "RNN", MakeRnn);
NEREID_REGISTER_KERNEL("", "GRU", MakeGru);
NEREID_REGISTER_KERNEL("", "LSTM", MakeLstm);

}  // namespace
}  // namespace nereid::engine::ref
