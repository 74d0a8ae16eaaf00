// Reference kernels of the "nereid" domain (engine/ir/fused_ops.h), built
// from the ONNX reference kernels: the oracle the optimized kernels are
// tested against, and their fallback for what they do not handle.
//
// Thread safety: kernels are immutable after construction.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/ir/fused_ops.h"
#include "engine/kernels/blocked_layout.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

constexpr const char* kDomain = "nereid";

// A copy of `node` as op `op_type` of the ONNX domain without the attributes
// in `drop`.
std::unique_ptr<Node> AsOnnxNode(const Node& node, const std::string& op_type,
                                 std::initializer_list<const char*> drop) {
  auto copy = std::make_unique<Node>(node);
  copy->op_type = op_type;
  copy->domain = "";
  for (const char* name : drop) copy->attributes.erase(std::string(name));
  return copy;
}

StatusOr<std::unique_ptr<Kernel>> BuildReference(const Node& node, int64_t opset,
                                                 const KernelBuildContext& like,
                                                 size_t num_inputs) {
  KernelFactory factory = KernelRegistry::Global().FindReference("", node.op_type);
  if (factory == nullptr) return Unimplemented("no reference kernel for " + node.op_type);
  KernelBuildContext context{node, opset, {}, {}, {}};
  for (size_t i = 0; i < num_inputs; ++i) {
    context.input_dtypes.push_back(i < like.input_dtypes.size() ? like.input_dtypes[i]
                                                                : DataType::kInvalid);
    context.constant_inputs.push_back(i < like.constant_inputs.size() ? like.constant_inputs[i]
                                                                      : nullptr);
  }
  context.output_dtypes = like.output_dtypes;
  context.intra_op_threads = like.intra_op_threads;
  return factory(context);
}

Status ApplyActivation(const std::string& act, float alpha, float beta, Tensor* y) {
  if (act.empty()) return Status::Ok();
  if (y->dtype() != DataType::kFp32) return InvalidArgument("fused activations need fp32");
  float* p = y->mutable_data_as<float>();
  const size_t n = y->byte_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    const float x = p[i];
    float r;
    if (act == "Relu") {
      r = x > 0 ? x : 0.0f;
    } else if (act == "LeakyRelu") {
      r = x >= 0 ? x : alpha * x;
    } else if (act == "Clip") {
      r = x < alpha ? alpha : (x > beta ? beta : x);
    } else if (act == "Sigmoid") {
      r = 1.0f / (1.0f + std::exp(-x));
    } else if (act == "Tanh") {
      r = std::tanh(x);
    } else if (act == "Elu") {
      r = x >= 0 ? x : alpha * (std::exp(x) - 1.0f);
    } else if (act == "HardSwish") {
      r = x * std::fmin(1.0f, std::fmax(0.0f, x / 6.0f + 0.5f));
    } else if (act == "Gelu") {
      r = 0.5f * x * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2)));
    } else {
      return InvalidArgument("unknown fused activation '" + act + "'");
    }
    p[i] = r;
  }
  return Status::Ok();
}

class FusedConvKernel final : public Kernel {
 public:
  FusedConvKernel(std::unique_ptr<Node> conv_node, std::unique_ptr<Kernel> conv,
                  std::unique_ptr<Node> add_node, std::unique_ptr<Kernel> add, std::string act,
                  float alpha, float beta, int64_t src_block, int64_t dst_block, int64_t group)
      : conv_node_(std::move(conv_node)),
        conv_(std::move(conv)),
        add_node_(std::move(add_node)),
        add_(std::move(add)),
        act_(std::move(act)),
        alpha_(alpha),
        beta_(beta),
        src_block_(src_block),
        dst_block_(dst_block),
        group_(group) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 4));
    const Tensor& w = *inputs[1];
    Tensor x_plain;
    const Tensor* x = inputs[0];
    if (src_block_ > 0) {
      if (w.shape().size() != 4) return InvalidArgument("blocked FusedConv needs 4-D weights");
      ASSIGN_OR_RETURN(x_plain, FromBlockedLayout(*x, src_block_, w.shape()[1] * group_));
      x = &x_plain;
    }
    const Tensor* conv_args[3] = {x, inputs[1], inputs.size() > 2 ? inputs[2] : nullptr};
    Tensor y[1];
    RETURN_IF_ERROR(conv_->Run(std::span<const Tensor* const>(conv_args, 3), y));
    if (inputs.size() > 3 && inputs[3] != nullptr) {
      Tensor z_plain;
      const Tensor* z = inputs[3];
      if (dst_block_ > 0) {
        ASSIGN_OR_RETURN(z_plain, FromBlockedLayout(*z, dst_block_, w.shape()[0]));
        z = &z_plain;
      }
      const Tensor* add_args[2] = {&y[0], z};
      Tensor sum[1];
      RETURN_IF_ERROR(add_->Run(std::span<const Tensor* const>(add_args, 2), sum));
      y[0] = std::move(sum[0]);
      if (y[0].owner() == nullptr) y[0] = Tensor::CopyOf(y[0].view());
    }
    RETURN_IF_ERROR(ApplyActivation(act_, alpha_, beta_, &y[0]));
    if (dst_block_ > 0) {
      ASSIGN_OR_RETURN(outputs[0], ToBlockedLayout(y[0], dst_block_));
    } else {
      outputs[0] = std::move(y[0]);
    }
    return Status::Ok();
  }

 private:
  std::unique_ptr<Node> conv_node_;  // kept alive for the kernel built from it
  std::unique_ptr<Kernel> conv_;
  std::unique_ptr<Node> add_node_;
  std::unique_ptr<Kernel> add_;
  std::string act_;
  float alpha_, beta_;
  int64_t src_block_, dst_block_, group_;
};

StatusOr<std::unique_ptr<Kernel>> MakeFusedConv(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 4));
  const Node& node = context.node;
  auto conv_node = AsOnnxNode(node, "Conv",
                              {"activation", "activation_alpha", "activation_beta", "src_block",
                               "dst_block"});
  conv_node->inputs.resize(std::min<size_t>(conv_node->inputs.size(), 3));
  ASSIGN_OR_RETURN(auto conv, BuildReference(*conv_node, 11, context, 3));
  auto add_node = AsOnnxNode(node, "Add", {});
  add_node->attributes.clear();
  add_node->inputs = {node.inputs[0], node.inputs[0]};
  add_node->outputs.resize(1);
  ASSIGN_OR_RETURN(auto add, BuildReference(*add_node, 14, context, 2));
  ASSIGN_OR_RETURN(std::string act, node.GetString("activation", ""));
  ASSIGN_OR_RETURN(float alpha, node.GetFloat("activation_alpha", 0.0f));
  ASSIGN_OR_RETURN(float beta, node.GetFloat("activation_beta", 0.0f));
  ASSIGN_OR_RETURN(int64_t src_block, node.GetInt("src_block", 0));
  ASSIGN_OR_RETURN(int64_t dst_block, node.GetInt("dst_block", 0));
  ASSIGN_OR_RETURN(int64_t group, node.GetInt("group", 1));
  for (int64_t b : {src_block, dst_block}) {
    if (b != 0 && b != 8 && b != 16) return InvalidArgument("block must be 0, 8 or 16");
  }
  Tensor probe = Tensor::AllocateDense(DataType::kFp32, {1});
  probe.mutable_data_as<float>()[0] = 0;
  RETURN_IF_ERROR(ApplyActivation(act, alpha, beta, &probe));
  return std::unique_ptr<Kernel>(new FusedConvKernel(std::move(conv_node), std::move(conv),
                                                     std::move(add_node), std::move(add), act,
                                                     alpha, beta, src_block, dst_block, group));
}

StatusOr<std::unique_ptr<Kernel>> MakeToBlocked(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t block, context.node.GetInt("block"));
  if (block != 8 && block != 16) return InvalidArgument("block must be 8 or 16");
  return NewBlockedLayoutKernel(/*to_blocked=*/true, block, 0, /*threads=*/1);
}

StatusOr<std::unique_ptr<Kernel>> MakeFromBlocked(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t block, context.node.GetInt("block"));
  ASSIGN_OR_RETURN(int64_t channels, context.node.GetInt("channels"));
  if (block != 8 && block != 16) return InvalidArgument("block must be 8 or 16");
  if (channels < 1) return InvalidArgument("channels must be positive");
  return NewBlockedLayoutKernel(/*to_blocked=*/false, block, channels, /*threads=*/1);
}

// Pooling on a blocked tensor: unblock, ONNX reference pool, block again.
class BlockedPoolKernel final : public Kernel {
 public:
  BlockedPoolKernel(std::unique_ptr<Node> node, std::unique_ptr<Kernel> pool, int64_t block,
                    int64_t channels)
      : node_(std::move(node)), pool_(std::move(pool)), block_(block), channels_(channels) {}
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    ASSIGN_OR_RETURN(Tensor plain, FromBlockedLayout(*inputs[0], block_, channels_));
    const Tensor* args[1] = {&plain};
    Tensor y[1];
    RETURN_IF_ERROR(pool_->Run(std::span<const Tensor* const>(args, 1), y));
    ASSIGN_OR_RETURN(outputs[0], ToBlockedLayout(y[0], block_));
    return Status::Ok();
  }

 private:
  std::unique_ptr<Node> node_;
  std::unique_ptr<Kernel> pool_;
  int64_t block_, channels_;
};

StatusOr<std::unique_ptr<Kernel>> MakeBlockedPool(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t block, context.node.GetInt("block"));
  ASSIGN_OR_RETURN(int64_t channels, context.node.GetInt("channels"));
  ASSIGN_OR_RETURN(std::string pool, context.node.GetString("pool"));
  if (block != 8 && block != 16) return InvalidArgument("block must be 8 or 16");
  if (channels < 1) return InvalidArgument("channels must be positive");
  if (pool != "MaxPool" && pool != "AveragePool" && pool != "GlobalAveragePool" &&
      pool != "GlobalMaxPool") {
    return InvalidArgument("unknown pool '" + pool + "'");
  }
  auto node = AsOnnxNode(context.node, pool, {"block", "channels", "pool"});
  node->inputs.resize(1);
  ASSIGN_OR_RETURN(auto kernel, BuildReference(*node, 19, context, 1));
  return std::unique_ptr<Kernel>(
      new BlockedPoolKernel(std::move(node), std::move(kernel), block, channels));
}

// FusedMatMul: Transpose(s), MatMul, scale, Add(s), activation, Transpose,
// each by the ONNX reference kernel.
class FusedMatMulKernel final : public Kernel {
 public:
  struct Parts {
    std::vector<std::unique_ptr<Node>> nodes;  // kept alive for the kernels built from them
    std::unique_ptr<Kernel> a_transpose, b_transpose, matmul, add, out_transpose;
    float alpha = 1;
    std::string act;
  };
  explicit FusedMatMulKernel(Parts parts) : p_(std::move(parts)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 4));
    Tensor a_t[1], b_t[1];
    const Tensor* a = inputs[0];
    const Tensor* b = inputs[1];
    if (p_.a_transpose) {
      RETURN_IF_ERROR(p_.a_transpose->Run(std::span<const Tensor* const>(&a, 1), a_t));
      a = &a_t[0];
    }
    if (p_.b_transpose) {
      RETURN_IF_ERROR(p_.b_transpose->Run(std::span<const Tensor* const>(&b, 1), b_t));
      b = &b_t[0];
    }
    const Tensor* mm_args[2] = {a, b};
    Tensor y[1];
    RETURN_IF_ERROR(p_.matmul->Run(std::span<const Tensor* const>(mm_args, 2), y));
    if (y[0].dtype() != DataType::kFp32) return InvalidArgument("FusedMatMul computes fp32 only");
    if (p_.alpha != 1.0f) {
      float* v = y[0].mutable_data_as<float>();
      for (size_t i = 0; i < y[0].byte_size() / 4; ++i) v[i] *= p_.alpha;
    }
    for (size_t i = 2; i < inputs.size(); ++i) {
      if (inputs[i] == nullptr) continue;
      const Tensor* add_args[2] = {&y[0], inputs[i]};
      Tensor sum[1];
      RETURN_IF_ERROR(p_.add->Run(std::span<const Tensor* const>(add_args, 2), sum));
      y[0] = std::move(sum[0]);
    }
    if (y[0].owner() == nullptr) y[0] = Tensor::CopyOf(y[0].view());
    RETURN_IF_ERROR(ApplyActivation(p_.act, 0, 0, &y[0]));
    if (p_.out_transpose) {
      const Tensor* t = &y[0];
      return p_.out_transpose->Run(std::span<const Tensor* const>(&t, 1), outputs.subspan(0, 1));
    }
    outputs[0] = std::move(y[0]);
    return Status::Ok();
  }

 private:
  Parts p_;
};

StatusOr<std::unique_ptr<Kernel>> MakeFusedMatMul(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 4));
  const Node& node = context.node;
  FusedMatMulKernel::Parts parts;
  ASSIGN_OR_RETURN(parts.alpha, node.GetFloat("alpha", 1.0f));
  ASSIGN_OR_RETURN(parts.act, node.GetString("activation", ""));
  if (!parts.act.empty() && parts.act != "Relu" && parts.act != "Tanh" &&
      parts.act != "Sigmoid" && parts.act != "Gelu") {
    return InvalidArgument("unknown FusedMatMul activation '" + parts.act + "'");
  }
  // The reference kernel of one ONNX part reading `inputs` (the node it is
  // built from is kept alive in parts.nodes).
  auto part = [&](const char* op, std::vector<int> inputs, int64_t opset,
                  std::optional<std::vector<int64_t>> perm) -> StatusOr<std::unique_ptr<Kernel>> {
    auto n = std::make_unique<Node>();
    n->op_type = op;
    n->inputs = std::move(inputs);
    n->outputs = {node.outputs[0]};
    if (perm) {
      Attribute p;
      p.kind = Attribute::Kind::kInts;
      p.ints = std::move(*perm);
      n->attributes["perm"] = std::move(p);
    }
    ASSIGN_OR_RETURN(auto kernel, BuildReference(*n, opset, context, n->inputs.size()));
    parts.nodes.push_back(std::move(n));
    return kernel;
  };
  auto transpose = [&](const char* attr) -> StatusOr<std::unique_ptr<Kernel>> {
    ASSIGN_OR_RETURN(std::vector<int64_t> perm, node.GetInts(attr, std::vector<int64_t>{}));
    if (perm.empty()) return std::unique_ptr<Kernel>();
    return part("Transpose", {node.inputs[0]}, 13, std::move(perm));
  };
  ASSIGN_OR_RETURN(parts.a_transpose, transpose("a_perm"));
  ASSIGN_OR_RETURN(parts.b_transpose, transpose("b_perm"));
  ASSIGN_OR_RETURN(parts.out_transpose, transpose("out_perm"));
  ASSIGN_OR_RETURN(parts.matmul, part("MatMul", {node.inputs[0], node.inputs[1]}, 13, {}));
  ASSIGN_OR_RETURN(parts.add, part("Add", {node.inputs[0], node.inputs[0]}, 14, {}));
  return std::unique_ptr<Kernel>(new FusedMatMulKernel(std::move(parts)));
}

NEREID_REGISTER_KERNEL(kDomain, "FusedConv", MakeFusedConv);
NEREID_REGISTER_KERNEL(kDomain, "FusedMatMul", MakeFusedMatMul);
NEREID_REGISTER_KERNEL(kDomain, "ToBlocked", MakeToBlocked);
NEREID_REGISTER_KERNEL(kDomain, "FromBlocked", MakeFromBlocked);
NEREID_REGISTER_KERNEL(kDomain, "BlockedPool", MakeBlockedPool);

}  // namespace
}  // namespace nereid::engine::ref
