#include "engine/ir/onnx_import.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "common/logging.h"
#include "engine/ir/onnx_tensor.h"

namespace nereid::engine {
namespace {

using onnx::AttributeProto;
using onnx::ModelProto;
using onnx::ValueInfoProto;

// Reads the tensor type of a ValueInfoProto into `value`. Non-tensor types
// (sequence, map, optional) -> Unimplemented.
Status ReadValueInfo(const ValueInfoProto& info, Value* value) {
  if (!info.has_type()) return Status::Ok();
  const auto& type = info.type();
  if (!type.has_tensor_type()) {
    return Unimplemented("value '" + info.name() +
                         "' is not a tensor (sequence, map and optional types are not supported)");
  }
  const auto& tt = type.tensor_type();
  if (tt.elem_type() != 0) {
    DataType dtype = DataTypeFromOnnx(tt.elem_type());
    if (dtype == DataType::kInvalid) {
      return Unimplemented("value '" + info.name() + "' has unsupported element type " +
                           std::string(OnnxTypeName(tt.elem_type())));
    }
    value->dtype = dtype;
  }
  if (tt.has_shape()) {
    Shape shape;
    for (const auto& dim : tt.shape().dim()) {
      shape.push_back(dim.has_dim_value() && dim.dim_value() >= 0 ? dim.dim_value() : -1);
    }
    value->shape = std::move(shape);
  }
  return Status::Ok();
}

StatusOr<Attribute> ConvertAttribute(const AttributeProto& proto) {
  Attribute attr;
  switch (proto.type()) {
    case AttributeProto::FLOAT:
      attr.kind = Attribute::Kind::kFloat;
      attr.f = proto.f();
      break;
    case AttributeProto::INT:
      attr.kind = Attribute::Kind::kInt;
      attr.i = proto.i();
      break;
    case AttributeProto::STRING:
      attr.kind = Attribute::Kind::kString;
      attr.s = proto.s();
      break;
    case AttributeProto::TENSOR: {
      attr.kind = Attribute::Kind::kTensor;
      ASSIGN_OR_RETURN(attr.t, TensorFromOnnx(proto.t()));
      break;
    }
    case AttributeProto::FLOATS:
      attr.kind = Attribute::Kind::kFloats;
      attr.floats.assign(proto.floats().begin(), proto.floats().end());
      break;
    case AttributeProto::INTS:
      attr.kind = Attribute::Kind::kInts;
      attr.ints.assign(proto.ints().begin(), proto.ints().end());
      break;
    case AttributeProto::STRINGS:
      attr.kind = Attribute::Kind::kStrings;
      attr.strings.assign(proto.strings().begin(), proto.strings().end());
      break;
    default:
      attr.kind = Attribute::Kind::kUnsupported;
      attr.s = AttributeProto::AttributeType_Name(proto.type());
      if (attr.s.empty()) attr.s = "UNDEFINED";
      break;
  }
  return attr;
}

// Best-effort ONNX shape inference; fills value_info for intermediates.
// ONNX's inference functions assume a model the checker accepted (Scan's
// dereferences a missing body graph, for one), so models the checker rejects
// are imported without inference rather than risking a crash.
void InferShapesBestEffort(ModelProto* model, const ImportOptions& options) {
  if (options.infer_shapes_for) {
    for (const auto& node : model->graph().node()) {
      if (!options.infer_shapes_for(NormalizeDomain(node.domain()), node.op_type())) return;
    }
  }
  try {
    onnx::checker::check_model(*model);
  } catch (const std::exception& e) {
    NLOG_VERBOSE(1) << "ONNX checker rejected the model, skipping shape inference: " << e.what();
    return;
  }
  try {
    onnx::ShapeInferenceOptions inference_options;  // not strict: per-node failures are skipped
    onnx::shape_inference::InferShapes(*model, onnx::OpSchemaRegistry::Instance(),
                                       inference_options);
  } catch (const std::exception& e) {
    NLOG_VERBOSE(1) << "ONNX shape inference failed, continuing without it: " << e.what();
  }
}

Status ImportOpsets(const ModelProto& model, Graph* graph) {
  for (const auto& opset : model.opset_import()) {
    graph->opsets[NormalizeDomain(opset.domain())] = opset.version();
  }
  return Status::Ok();
}

// Reads an initializer whose bytes live in a separate file (ONNX external
// data: keys location, offset, length). `location` must stay inside the
// model's directory: absolute paths and ".." are refused.
StatusOr<Tensor> ExternalTensor(const onnx::TensorProto& init, const std::string& dir) {
  const std::string what = "tensor '" + init.name() + "'";
  if (dir.empty()) {
    return InvalidArgument(what + " uses external data, which needs the model loaded from a file");
  }
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const auto& kv : init.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      if (kv.key() == "offset") offset = std::stoull(kv.value());
      if (kv.key() == "length") length = std::stoull(kv.value());
    } catch (const std::exception&) {
      return InvalidArgument(what + ": external data '" + kv.key() + "' is not a number");
    }
  }
  namespace fs = std::filesystem;
  fs::path rel(location);
  if (location.empty() || rel.is_absolute() ||
      std::any_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; })) {
    return InvalidArgument(what + ": external data location '" + location +
                           "' must be a relative path inside the model's directory");
  }
  const fs::path file = fs::path(dir) / rel;
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) {
    return InvalidArgument(what + ": external data file '" + file.string() +
                           "' cannot be read: " + ec.message());
  }
  if (offset > size || (length && *length > size - offset)) {
    return InvalidArgument(what + ": external data range [" + std::to_string(offset) + ", +" +
                           std::to_string(length.value_or(0)) + ") is outside '" +
                           file.string() + "' (" + std::to_string(size) + " bytes)");
  }
  const uint64_t n = length.value_or(size - offset);
  onnx::TensorProto copy = init;
  copy.clear_external_data();
  copy.set_data_location(onnx::TensorProto::DEFAULT);
  std::string* raw = copy.mutable_raw_data();
  raw->resize(n);
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in.read(raw->data(), static_cast<std::streamsize>(n))) {
    return InvalidArgument(what + ": reading external data from '" + file.string() + "' failed");
  }
  return TensorFromOnnx(copy);
}

Status ImportInitializers(const onnx::GraphProto& g, const std::string& external_dir,
                          Graph* graph) {
  if (g.sparse_initializer_size() > 0) {
    return Unimplemented("sparse initializers are not supported");
  }
  for (const auto& init : g.initializer()) {
    if (init.name().empty()) return InvalidArgument("an initializer has no name");
    ASSIGN_OR_RETURN(Tensor t, init.data_location() == onnx::TensorProto::EXTERNAL
                                   ? ExternalTensor(init, external_dir)
                                   : TensorFromOnnx(init));
    int id = graph->GetOrAddValue(init.name());
    graph->values[id].dtype = t.dtype();
    graph->values[id].shape = t.shape();
    graph->initializers[id] = std::move(t);
  }
  return Status::Ok();
}

Status ImportInputsOutputs(const onnx::GraphProto& g, Graph* graph) {
  for (const auto& info : g.input()) {
    if (info.name().empty()) return InvalidArgument("a graph input has no name");
    int id = graph->GetOrAddValue(info.name());
    if (graph->initializers.count(id)) continue;  // a constant (IR < 4 lists them as inputs)
    RETURN_IF_ERROR(ReadValueInfo(info, &graph->values[id]));
    if (graph->values[id].dtype == DataType::kInvalid) {
      return InvalidArgument("graph input '" + info.name() + "' has no element type");
    }
    graph->inputs.push_back(id);
  }
  for (const auto& info : g.output()) {
    if (info.name().empty()) return InvalidArgument("a graph output has no name");
    int id = graph->GetOrAddValue(info.name());
    RETURN_IF_ERROR(ReadValueInfo(info, &graph->values[id]));
    graph->outputs.push_back(id);
  }
  return Status::Ok();
}

Status ImportNodes(const onnx::GraphProto& g, Graph* graph) {
  graph->nodes.reserve(g.node_size());
  for (const auto& proto : g.node()) {
    Node node;
    node.name = proto.name();
    node.op_type = proto.op_type();
    node.domain = NormalizeDomain(proto.domain());
    for (const std::string& in : proto.input()) {
      node.inputs.push_back(in.empty() ? kNoValue : graph->GetOrAddValue(in));
    }
    for (const std::string& out : proto.output()) {
      node.outputs.push_back(out.empty() ? kNoValue : graph->GetOrAddValue(out));
    }
    for (const auto& attr_proto : proto.attribute()) {
      auto attr = ConvertAttribute(attr_proto);
      if (!attr.ok()) {
        return attr.status().WithPrefix(DescribeNode(node, graph->nodes.size()) + ", attribute '" +
                                        attr_proto.name() + "'");
      }
      node.attributes[attr_proto.name()] = std::move(attr).value();
    }
    if (node.domain.empty() && !graph->opsets.count("")) {
      return InvalidArgument("model imports no opset for the default ONNX domain");
    }
    graph->nodes.push_back(std::move(node));
  }
  return Status::Ok();
}

// value_info from the model or from shape inference: dtype/shape of
// intermediates. Unreadable entries are ignored (they are only hints).
void ImportValueInfo(const onnx::GraphProto& g, Graph* graph) {
  for (const auto& info : g.value_info()) {
    int id = graph->FindValue(info.name());
    if (id == kNoValue) continue;
    Value candidate = graph->values[id];
    if (ReadValueInfo(info, &candidate).ok()) graph->values[id] = std::move(candidate);
  }
}

// Fixes the dims options.input_dims gives (>= 0) in the graph inputs'
// declared types, before shape inference, so inference and the passes see
// them as static. A dim the model fixes to another value, an unknown input
// or a rank mismatch is refused.
Status ApplyInputDims(ModelProto* model, const ImportOptions& options) {
  std::unordered_set<std::string> initializers;
  for (const auto& init : model->graph().initializer()) initializers.insert(init.name());
  for (const auto& [name, dims] : options.input_dims) {
    onnx::ValueInfoProto* input = nullptr;
    for (auto& info : *model->mutable_graph()->mutable_input()) {
      if (info.name() == name && !initializers.count(name)) input = &info;
    }
    if (input == nullptr) {
      std::string names;
      for (const auto& info : model->graph().input()) {
        if (!initializers.count(info.name())) names += (names.empty() ? "" : ", ") + info.name();
      }
      return InvalidArgument("'" + name + "' is not an input of the model (inputs: " + names +
                             ")");
    }
    if (!input->type().has_tensor_type()) {
      return InvalidArgument("input '" + name + "' is not a tensor");
    }
    onnx::TensorShapeProto* shape = input->mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() == 0 && !input->type().tensor_type().has_shape()) {
      for (size_t d = 0; d < dims.size(); ++d) shape->add_dim();
    }
    if (static_cast<size_t>(shape->dim_size()) != dims.size()) {
      return InvalidArgument("input '" + name + "' has rank " + std::to_string(shape->dim_size()) +
                             " in the model, not " + std::to_string(dims.size()));
    }
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d] < 0) continue;
      onnx::TensorShapeProto::Dimension* dim = shape->mutable_dim(static_cast<int>(d));
      if (dim->has_dim_value() && dim->dim_value() != dims[d]) {
        return InvalidArgument("input '" + name + "' dimension " + std::to_string(d) +
                               " is fixed at " + std::to_string(dim->dim_value()) +
                               " by the model, not " + std::to_string(dims[d]));
      }
      dim->set_dim_value(dims[d]);
    }
  }
  return Status::Ok();
}

StatusOr<Graph> ConvertModel(ModelProto& model, const ImportOptions& options) {
  if (!model.has_graph()) return InvalidArgument("ONNX model has no graph");
  Graph graph;
  graph.name = model.graph().name();
  RETURN_IF_ERROR(ImportOpsets(model, &graph));
  RETURN_IF_ERROR(ApplyInputDims(&model, options).WithPrefix("input shapes to fix"));
  InferShapesBestEffort(&model, options);
  const onnx::GraphProto& g = model.graph();
  RETURN_IF_ERROR(ImportInitializers(g, options.external_data_dir, &graph));
  RETURN_IF_ERROR(ImportInputsOutputs(g, &graph));
  RETURN_IF_ERROR(ImportNodes(g, &graph));
  ImportValueInfo(g, &graph);
  // Graph outputs keep what the model declares; fill gaps from inference.
  for (const auto& info : g.output()) {
    Value& v = graph.values[graph.FindValue(info.name())];
    if (v.dtype == DataType::kInvalid || !v.shape) (void)ReadValueInfo(info, &v);
  }
  RETURN_IF_ERROR(SortTopologically(&graph));
  return graph;
}

}  // namespace

StatusOr<Graph> ImportOnnxModel(std::string_view model_bytes, const ImportOptions& options) {
  if (model_bytes.empty()) return InvalidArgument("ONNX model is empty");
  if (model_bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return InvalidArgument("ONNX model is larger than 2 GiB (protobuf limit)");
  }
  ModelProto model;
  if (!model.ParseFromArray(model_bytes.data(), static_cast<int>(model_bytes.size()))) {
    return InvalidArgument("bytes are not a valid ONNX model (protobuf parse failed)");
  }
  if (model.ir_version() <= 0) return InvalidArgument("ONNX model has no ir_version");
  return ConvertModel(model, options);
}

StatusOr<Graph> ImportOnnxFile(const std::string& path, const ImportOptions& options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return InvalidArgument("cannot open ONNX model file '" + path + "'");
  std::ostringstream buffer;
  buffer << file.rdbuf();
  if (!file.good() && !file.eof()) {
    return InvalidArgument("cannot read ONNX model file '" + path + "'");
  }
  ImportOptions with_dir = options;
  if (with_dir.external_data_dir.empty()) {
    with_dir.external_data_dir = std::filesystem::path(path).parent_path().string();
    if (with_dir.external_data_dir.empty()) with_dir.external_data_dir = ".";
  }
  auto graph = ImportOnnxModel(buffer.str(), with_dir);
  if (!graph.ok()) return graph.status().WithPrefix(path);
  return graph;
}

}  // namespace nereid::engine
