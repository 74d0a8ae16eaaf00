// Conv and nereid.FusedConv factories for the oneDNN convolution kernel
// (dnnl_conv.cc): attribute parsing, fusion and precision attributes,
// auto-tuning parameters, and registration above the reference kernels.
#include <cmath>
#include <limits>
#include <string>

#include "engine/ir/precision_attrs.h"
#include "engine/kernels/cpu/dnnl_conv.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {

StatusOr<ConvTuning> ParseConvTuning(std::string_view text) {
  ASSIGN_OR_RETURN(TuningParams params, TuningParams::Parse(text));
  RETURN_IF_ERROR(params.CheckKeys({"alg", "impl", "layout"}, "the oneDNN convolution"));
  ConvTuning tuning;
  tuning.alg = params.Get("alg").value_or("");
  tuning.layout = params.Get("layout").value_or("");
  tuning.impl = params.Get("impl").value_or("");
  if (!tuning.alg.empty() && tuning.alg != "direct" && tuning.alg != "winograd") {
    return InvalidArgument("tuning parameter alg must be direct or winograd, got '" + tuning.alg +
                           "'");
  }
  if (!tuning.layout.empty() && tuning.layout != "plain" && tuning.layout != "blocked") {
    return InvalidArgument("tuning parameter layout must be plain or blocked, got '" +
                           tuning.layout + "'");
  }
  return tuning;
}

std::string ConvTuningToString(const ConvTuning& tuning) {
  TuningParams params;
  params.Set("alg", tuning.alg);
  params.Set("layout", tuning.layout);
  params.Set("impl", tuning.impl);
  return params.ToString();
}

namespace {

// The precision attributes (engine/passes/assign_precision.h) of a node.
StatusOr<ConvPrecision> ReadPrecision(const Node& node) {
  ConvPrecision p;
  ASSIGN_OR_RETURN(std::string kind, node.GetString(kPrecisionAttr, "fp32"));
  if (kind == "fp32") return p;
  if (kind == "bf16") {
    p.kind = ConvPrecision::kBf16;
    return p;
  }
  if (kind != "int8") return InvalidArgument(std::string(kPrecisionAttr) + " '" + kind + "'");
  p.kind = ConvPrecision::kInt8;
  ASSIGN_OR_RETURN(p.input_scale, node.GetFloat(kInputScaleAttr));
  ASSIGN_OR_RETURN(int64_t unsigned_input, node.GetInt(kInputUnsignedAttr, 0));
  p.input_unsigned = unsigned_input != 0;
  if (!(p.input_scale > 0) || !std::isfinite(p.input_scale)) {
    return InvalidArgument(std::string(kInputScaleAttr) + " must be a positive number");
  }
  if (node.FindAttribute(kOutputScaleAttr) != nullptr) {
    p.quantized_output = true;
    ASSIGN_OR_RETURN(p.output_scale, node.GetFloat(kOutputScaleAttr));
    ASSIGN_OR_RETURN(int64_t unsigned_output, node.GetInt(kOutputUnsignedAttr, 0));
    p.output_unsigned = unsigned_output != 0;
    if (!(p.output_scale > 0) || !std::isfinite(p.output_scale)) {
      return InvalidArgument(std::string(kOutputScaleAttr) + " must be a positive number");
    }
  }
  ASSIGN_OR_RETURN(p.sum_scale, node.GetFloat(kSumScaleAttr, 1.0f));
  if (!(p.sum_scale > 0) || !std::isfinite(p.sum_scale)) {
    return InvalidArgument(std::string(kSumScaleAttr) + " must be a positive number");
  }
  return p;
}

// Known input dtypes the kernel takes: fp32, and for INT8 quantized X (input
// 0) and Z (input 3) from an INT8 chain.
Status CheckInputDtypes(const KernelBuildContext& context, const ConvPrecision& precision,
                        const char* op) {
  for (size_t i = 0; i < context.input_dtypes.size(); ++i) {
    DataType dt = context.input_dtypes[i];
    if (dt == DataType::kInvalid || dt == DataType::kFp32) continue;
    if (precision.kind == ConvPrecision::kInt8 && (i == 0 || i == 3) &&
        (dt == DataType::kUint8 || dt == DataType::kInt8)) {
      continue;
    }
    return Unimplemented(std::string("oneDNN ") + op + " supports fp32 only, got " +
                         std::string(DataTypeName(dt)));
  }
  return Status::Ok();
}

// What a FusedConv node fuses (activation, layouts; `sum` from its inputs).
StatusOr<ConvFusion> ReadFusion(const Node& node) {
  ConvFusion fusion;
  fusion.sum = node.inputs.size() > 3 && node.inputs[3] != kNoValue;
  ASSIGN_OR_RETURN(std::string act, node.GetString("activation", ""));
  ASSIGN_OR_RETURN(fusion.alpha, node.GetFloat("activation_alpha", 0.0f));
  ASSIGN_OR_RETURN(fusion.beta, node.GetFloat("activation_beta", 0.0f));
  ASSIGN_OR_RETURN(fusion.src_block, node.GetInt("src_block", 0));
  ASSIGN_OR_RETURN(fusion.dst_block, node.GetInt("dst_block", 0));
  using dnnl::algorithm;
  if (act.empty()) {
    fusion.act = algorithm::undef;
  } else if (act == "Relu") {
    fusion.act = algorithm::eltwise_relu;
    fusion.alpha = 0;
  } else if (act == "LeakyRelu") {
    fusion.act = algorithm::eltwise_relu;
  } else if (act == "Clip") {
    fusion.act = algorithm::eltwise_clip;
    fusion.alpha = std::max(fusion.alpha, -std::numeric_limits<float>::max());
    fusion.beta = std::min(fusion.beta, std::numeric_limits<float>::max());
  } else if (act == "Sigmoid") {
    fusion.act = algorithm::eltwise_logistic;
  } else if (act == "Tanh") {
    fusion.act = algorithm::eltwise_tanh;
  } else if (act == "Elu") {
    fusion.act = algorithm::eltwise_elu;
  } else if (act == "HardSwish") {
    fusion.act = algorithm::eltwise_hardswish;
  } else {
    return Unimplemented("oneDNN FusedConv: activation " + act);
  }
  return fusion;
}

// Conv (`fused` false: no fusion) or nereid.FusedConv on the oneDNN kernel,
// with the reference kernel of the same op as its fallback.
StatusOr<std::unique_ptr<Kernel>> MakeKernel(const KernelBuildContext& context, bool fused) {
  const char* op = fused ? "FusedConv" : "Conv";
  KernelFactory ref_factory = KernelRegistry::Global().FindReference(fused ? "nereid" : "", op);
  if (ref_factory == nullptr) return Unimplemented(std::string("oneDNN ") + op + ": no reference kernel");
  // The reference factory validates arity and attributes with the same
  // messages; its errors are ours.
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, ref_factory(context));
  ASSIGN_OR_RETURN(ConvPrecision precision, ReadPrecision(context.node));
  RETURN_IF_ERROR(CheckInputDtypes(context, precision, op));
  const Tensor* w = context.constant_inputs.size() > 1 ? context.constant_inputs[1] : nullptr;
  if (w != nullptr && (w->shape().size() < 3 || w->shape().size() > 5)) {
    return Unimplemented("oneDNN Conv supports 1-D to 3-D convolutions only");
  }
  ConvFusion fusion;
  if (fused) {
    ASSIGN_OR_RETURN(fusion, ReadFusion(context.node));
  }
  ASSIGN_OR_RETURN(ref::WindowAttrs attrs, ref::ParseWindowAttrs(context.node, "Conv", true, false));
  ASSIGN_OR_RETURN(int64_t group, context.node.GetInt("group", 1));
  if (group < 1) return InvalidArgument("Conv attribute 'group' must be positive");
  ASSIGN_OR_RETURN(ConvTuning tuning, ParseConvTuning(context.tuning_params));
  const bool constant_b =
      context.constant_inputs.size() > 2 && context.constant_inputs[2] != nullptr;
  return NewDnnlConvKernel(std::move(attrs), group, w != nullptr, constant_b,
                           context.intra_op_threads,
                           std::move(reference), fusion, precision, std::move(tuning));
}

StatusOr<std::unique_ptr<Kernel>> MakeDnnlConv(const KernelBuildContext& context) {
  return MakeKernel(context, false);
}

StatusOr<std::unique_ptr<Kernel>> MakeDnnlFusedConv(const KernelBuildContext& context) {
  return MakeKernel(context, true);
}

NEREID_REGISTER_KERNEL_PRIORITY("", "Conv", MakeDnnlConv, 10);
NEREID_REGISTER_KERNEL_PRIORITY("nereid", "FusedConv", MakeDnnlFusedConv, 10);

}  // namespace
}  // namespace nereid::engine::cpu
