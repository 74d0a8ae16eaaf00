#include "engine/runtime/graph_codec.h"

#include <algorithm>
#include <vector>

namespace nereid::engine {
namespace {

constexpr size_t kWeightAlignment = 64;

void EncodeTensor(const Tensor& t, ByteWriter* w) {
  w->U8(static_cast<uint8_t>(t.dtype()));
  w->Dims(t.shape());
  w->U64(t.byte_size());
  w->Raw(t.data(), t.byte_size());
}

void EncodeAttribute(const Attribute& a, ByteWriter* w) {
  w->U8(static_cast<uint8_t>(a.kind));
  switch (a.kind) {
    case Attribute::Kind::kFloat:
      w->F32(a.f);
      break;
    case Attribute::Kind::kInt:
      w->I64(a.i);
      break;
    case Attribute::Kind::kString:
    case Attribute::Kind::kUnsupported:  // s holds the ONNX kind's name
      w->Str(a.s);
      break;
    case Attribute::Kind::kTensor:
      EncodeTensor(a.t, w);
      break;
    case Attribute::Kind::kFloats:
      w->U32(static_cast<uint32_t>(a.floats.size()));
      for (float f : a.floats) w->F32(f);
      break;
    case Attribute::Kind::kInts:
      w->U32(static_cast<uint32_t>(a.ints.size()));
      for (int64_t i : a.ints) w->I64(i);
      break;
    case Attribute::Kind::kStrings:
      w->U32(static_cast<uint32_t>(a.strings.size()));
      for (const std::string& s : a.strings) w->Str(s);
      break;
  }
}

// The byte size `shape` of `dtype` needs, or an error; BYTES tensors are
// checked by counting their serialized elements.
Status CheckTensorBytes(DataType dtype, const Shape& shape, std::string_view bytes) {
  ASSIGN_OR_RETURN(int64_t count, ElementCount(shape));
  if (dtype == DataType::kBytes) {
    ASSIGN_OR_RETURN(int64_t elements, CountSerializedBytesElements(bytes.data(), bytes.size()));
    if (elements != count) {
      return InvalidArgument("a BYTES tensor of shape " + ShapeToString(shape) + " holds " +
                             std::to_string(elements) + " strings");
    }
    return Status::Ok();
  }
  const uint64_t want = static_cast<uint64_t>(count) * DataTypeByteSize(dtype);
  if (want != bytes.size()) {
    return InvalidArgument("a " + std::string(DataTypeName(dtype)) + " tensor of shape " +
                           ShapeToString(shape) + " needs " + std::to_string(want) +
                           " bytes, not " + std::to_string(bytes.size()));
  }
  return Status::Ok();
}

Tensor DecodeTensor(ByteReader* r) {
  const DataType dtype = r->Type(/*allow_invalid=*/true);
  Shape shape = r->Dims(/*min_dim=*/0);
  const uint64_t size = r->U64();
  const std::string_view bytes = r->Raw(size);
  if (!r->ok()) return Tensor();
  if (dtype == DataType::kInvalid) {
    if (size != 0) r->Fail("a tensor without element type holds bytes");
    return Tensor();
  }
  Status valid = CheckTensorBytes(dtype, shape, bytes);
  if (!valid.ok()) {
    r->Fail(valid.message());
    return Tensor();
  }
  return Tensor::CopyOf(TensorView{dtype, std::move(shape), bytes.data(), bytes.size()});
}

Attribute DecodeAttribute(ByteReader* r) {
  Attribute a;
  const uint8_t kind = r->U8();
  if (kind > static_cast<uint8_t>(Attribute::Kind::kUnsupported)) {
    r->Fail("unknown attribute kind " + std::to_string(kind));
    return a;
  }
  a.kind = static_cast<Attribute::Kind>(kind);
  switch (a.kind) {
    case Attribute::Kind::kFloat:
      a.f = r->F32();
      break;
    case Attribute::Kind::kInt:
      a.i = r->I64();
      break;
    case Attribute::Kind::kString:
    case Attribute::Kind::kUnsupported:
      a.s = r->Str();
      break;
    case Attribute::Kind::kTensor:
      a.t = DecodeTensor(r);
      break;
    case Attribute::Kind::kFloats:
      a.floats.resize(r->Count(sizeof(float)));
      for (float& f : a.floats) f = r->F32();
      break;
    case Attribute::Kind::kInts:
      a.ints.resize(r->Count(sizeof(int64_t)));
      for (int64_t& i : a.ints) i = r->I64();
      break;
    case Attribute::Kind::kStrings:
      a.strings.resize(r->Count(sizeof(uint64_t)));
      for (std::string& s : a.strings) s = r->Str();
      break;
  }
  return a;
}

// A value id: kNoValue allowed only where an input/output may be omitted.
int ValueId(ByteReader* r, size_t num_values, bool allow_none) {
  const int32_t id = r->I32();
  if (!r->ok()) return kNoValue;
  if ((id == kNoValue && allow_none) || (id >= 0 && static_cast<size_t>(id) < num_values)) {
    return id;
  }
  r->Fail("value id " + std::to_string(id) + " is out of range (" + std::to_string(num_values) +
          " values)");
  return kNoValue;
}

std::vector<int> ValueIds(ByteReader* r, size_t num_values, bool allow_none) {
  std::vector<int> ids(r->Count(sizeof(int32_t)));
  for (int& id : ids) id = ValueId(r, num_values, allow_none);
  return ids;
}

}  // namespace

void EncodeGraph(const Graph& graph, ByteWriter* structure, ByteWriter* weights) {
  ByteWriter& w = *structure;
  w.Str(graph.name);
  w.U32(static_cast<uint32_t>(graph.opsets.size()));
  for (const auto& [domain, version] : graph.opsets) {
    w.Str(domain);
    w.I64(version);
  }
  w.U32(static_cast<uint32_t>(graph.values.size()));
  for (const Value& v : graph.values) {
    w.Str(v.name);
    w.U8(static_cast<uint8_t>(v.dtype));
    w.U8(v.shape.has_value() ? 1 : 0);
    if (v.shape) w.Dims(*v.shape);
  }
  for (const std::vector<int>* ids : {&graph.inputs, &graph.outputs}) {
    w.U32(static_cast<uint32_t>(ids->size()));
    for (int id : *ids) w.I32(id);
  }
  w.U32(static_cast<uint32_t>(graph.nodes.size()));
  for (const Node& node : graph.nodes) {
    w.Str(node.name);
    w.Str(node.domain);
    w.Str(node.op_type);
    for (const std::vector<int>* ids : {&node.inputs, &node.outputs}) {
      w.U32(static_cast<uint32_t>(ids->size()));
      for (int id : *ids) w.I32(id);
    }
    w.U32(static_cast<uint32_t>(node.attributes.size()));
    for (const auto& [name, attr] : node.attributes) {
      w.Str(name);
      EncodeAttribute(attr, &w);
    }
  }
  std::vector<int> ids;
  size_t weight_bytes = weights->size();
  for (const auto& [id, tensor] : graph.initializers) {
    ids.push_back(id);
    weight_bytes += tensor.byte_size() + kWeightAlignment;
  }
  std::sort(ids.begin(), ids.end());
  weights->Reserve(weight_bytes);  // one allocation for 100 MB of weights, not a doubling series
  w.U32(static_cast<uint32_t>(ids.size()));
  for (int id : ids) {
    const Tensor& t = graph.initializers.at(id);
    weights->Align(kWeightAlignment);
    w.I32(id);
    w.U8(static_cast<uint8_t>(t.dtype()));
    w.Dims(t.shape());
    w.U64(weights->size());
    w.U64(t.byte_size());
    weights->Raw(t.data(), t.byte_size());
  }
}

StatusOr<Graph> DecodeGraph(ByteReader* structure, std::string_view weights,
                            const std::shared_ptr<const void>& owner) {
  ByteReader& r = *structure;
  Graph graph;
  graph.name = r.Str();
  const uint32_t num_opsets = r.Count(16);
  for (uint32_t i = 0; i < num_opsets && r.ok(); ++i) {
    std::string domain = r.Str();
    graph.opsets[domain] = r.I64();
  }
  const uint32_t num_values = r.Count(10);
  for (uint32_t i = 0; i < num_values && r.ok(); ++i) {
    std::string name = r.Str();
    const DataType dtype = r.Type(/*allow_invalid=*/true);
    const bool has_shape = r.U8() != 0;
    std::optional<Shape> shape;
    if (has_shape) shape = r.Dims(/*min_dim=*/-1);
    if (!r.ok()) break;
    if (graph.GetOrAddValue(name) != static_cast<int>(i)) {
      r.Fail("value name '" + name + "' is used twice");
      break;
    }
    graph.values[i].dtype = dtype;
    graph.values[i].shape = std::move(shape);
  }
  graph.inputs = ValueIds(&r, graph.values.size(), /*allow_none=*/false);
  graph.outputs = ValueIds(&r, graph.values.size(), /*allow_none=*/false);
  const uint32_t num_nodes = r.Count(32);
  graph.nodes.reserve(num_nodes);
  for (uint32_t n = 0; n < num_nodes && r.ok(); ++n) {
    Node node;
    node.name = r.Str();
    node.domain = r.Str();
    node.op_type = r.Str();
    node.inputs = ValueIds(&r, graph.values.size(), /*allow_none=*/true);
    node.outputs = ValueIds(&r, graph.values.size(), /*allow_none=*/true);
    const uint32_t num_attrs = r.Count(9);
    for (uint32_t a = 0; a < num_attrs && r.ok(); ++a) {
      std::string name = r.Str();
      node.attributes[name] = DecodeAttribute(&r);
    }
    graph.nodes.push_back(std::move(node));
  }
  const uint32_t num_initializers = r.Count(25);
  for (uint32_t i = 0; i < num_initializers && r.ok(); ++i) {
    const int id = ValueId(&r, graph.values.size(), /*allow_none=*/false);
    const DataType dtype = r.Type(/*allow_invalid=*/false);
    Shape shape = r.Dims(/*min_dim=*/0);
    const uint64_t offset = r.U64();
    const uint64_t size = r.U64();
    if (!r.ok()) break;
    if (offset % kWeightAlignment != 0 || offset > weights.size() ||
        size > weights.size() - offset) {
      r.Fail("initializer '" + graph.values[id].name + "' lies outside the weights section");
      break;
    }
    const std::string_view bytes = weights.substr(offset, size);
    Status valid = CheckTensorBytes(dtype, shape, bytes);
    if (!valid.ok()) {
      r.Fail("initializer '" + graph.values[id].name + "': " + valid.message());
      break;
    }
    if (!graph.initializers
             .emplace(id, Tensor::Wrap(dtype, std::move(shape), bytes.data(), bytes.size(), owner))
             .second) {
      r.Fail("initializer '" + graph.values[id].name + "' is stored twice");
    }
  }
  if (r.ok() && !r.at_end()) r.Fail("unexpected bytes after the graph");
  RETURN_IF_ERROR(r.status());
  return graph;
}

}  // namespace nereid::engine
