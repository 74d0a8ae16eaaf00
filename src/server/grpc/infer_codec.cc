#include "server/grpc/infer_codec.h"

#include <cstring>
#include <limits>

#include "core/shm/shm_tensors.h"
#include "server/kserve/kserve.h"

namespace nereid::server::grpc {
namespace {

using inference::InferParameter;
using inference::InferTensorContents;

StatusOr<core::Parameter> FromProto(const std::string& key, const InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case InferParameter::kBoolParam: return core::Parameter(p.bool_param());
    case InferParameter::kInt64Param: return core::Parameter(int64_t{p.int64_param()});
    case InferParameter::kStringParam: return core::Parameter(p.string_param());
    case InferParameter::kDoubleParam: return core::Parameter(p.double_param());
    case InferParameter::kUint64Param: return core::Parameter(uint64_t{p.uint64_param()});
    default: return InvalidArgument("parameter '" + key + "' has no value");
  }
}

template <typename ProtoMap>
Status ParamsFromProto(const ProtoMap& in, core::ParameterMap* out) {
  for (const auto& [key, value] : in) {
    ASSIGN_OR_RETURN((*out)[key], FromProto(key, value));
  }
  return Status::Ok();
}

void ToProto(const core::Parameter& p, InferParameter* out) {
  if (auto* b = std::get_if<bool>(&p)) out->set_bool_param(*b);
  if (auto* i = std::get_if<int64_t>(&p)) out->set_int64_param(*i);
  if (auto* s = std::get_if<std::string>(&p)) out->set_string_param(*s);
  if (auto* d = std::get_if<double>(&p)) out->set_double_param(*d);
  if (auto* u = std::get_if<uint64_t>(&p)) out->set_uint64_param(*u);
}

// Number of typed elements in `c`, over all fields, and which field is used.
int64_t TotalContents(const InferTensorContents& c) {
  return c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() +
         c.uint_contents_size() + c.uint64_contents_size() + c.fp32_contents_size() +
         c.fp64_contents_size() + c.bytes_contents_size();
}

class TypedDecoder {
 public:
  TypedDecoder(const std::string& name, DataType dtype, const InferTensorContents& c,
               std::string* out)
      : name_(name), dtype_(dtype), c_(c), out_(out) {}

  // Appends the elements of the field that `dtype` uses; sets `count`.
  Status Decode(int64_t* count) {
    switch (dtype_) {
      case DataType::kBool: return Copy<uint8_t>(c_.bool_contents(), "bool_contents", count);
      case DataType::kInt8: return Narrow<int8_t>(c_.int_contents(), "int_contents", count);
      case DataType::kInt16: return Narrow<int16_t>(c_.int_contents(), "int_contents", count);
      case DataType::kInt32: return Copy<int32_t>(c_.int_contents(), "int_contents", count);
      case DataType::kInt64: return Copy<int64_t>(c_.int64_contents(), "int64_contents", count);
      case DataType::kUint8: return Narrow<uint8_t>(c_.uint_contents(), "uint_contents", count);
      case DataType::kUint16: return Narrow<uint16_t>(c_.uint_contents(), "uint_contents", count);
      case DataType::kUint32: return Copy<uint32_t>(c_.uint_contents(), "uint_contents", count);
      case DataType::kUint64: return Copy<uint64_t>(c_.uint64_contents(), "uint64_contents", count);
      case DataType::kFp32: return Copy<float>(c_.fp32_contents(), "fp32_contents", count);
      case DataType::kFp64: return Copy<double>(c_.fp64_contents(), "fp64_contents", count);
      case DataType::kBytes: {
        RETURN_IF_ERROR(OnlyField(c_.bytes_contents_size(), "bytes_contents"));
        for (const std::string& e : c_.bytes_contents()) {
          RETURN_IF_ERROR(AppendBytesElement(e, out_));
        }
        *count = c_.bytes_contents_size();
        return Status::Ok();
      }
      default:
        return InvalidArgument("input '" + name_ + "' has datatype " +
                               std::string(DataTypeName(dtype_)) +
                               ", which typed contents cannot carry; send it in "
                               "raw_input_contents");
    }
  }

 private:
  Status OnlyField(int64_t used, const char* field) const {
    if (TotalContents(c_) != used) {
      return InvalidArgument("input '" + name_ + "' of datatype " +
                             std::string(DataTypeName(dtype_)) + " must use contents." + field +
                             " only");
    }
    return Status::Ok();
  }
  template <typename T, typename Field>
  Status Copy(const Field& f, const char* field, int64_t* count) {
    RETURN_IF_ERROR(OnlyField(f.size(), field));
    for (auto v : f) {
      T x = static_cast<T>(v);
      out_->append(reinterpret_cast<const char*>(&x), sizeof(T));
    }
    *count = f.size();
    return Status::Ok();
  }
  template <typename T, typename Field>
  Status Narrow(const Field& f, const char* field, int64_t* count) {
    for (auto v : f) {
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
        return InvalidArgument("input '" + name_ + "' has element " + std::to_string(v) +
                               " out of range for " + std::string(DataTypeName(dtype_)));
      }
    }
    return Copy<T>(f, field, count);
  }

  const std::string& name_;
  DataType dtype_;
  const InferTensorContents& c_;
  std::string* out_;
};

}  // namespace

Status DecodeInferRequest(const inference::ModelInferRequest& msg, core::InferenceRequest* request,
                          std::vector<std::string>* requested) {
  request->model_name = msg.model_name();
  ASSIGN_OR_RETURN(request->model_version, ParseModelVersion(msg.model_version()));
  request->id = msg.id();
  RETURN_IF_ERROR(ParamsFromProto(msg.parameters(), &request->parameters));
  const bool raw = msg.raw_input_contents_size() > 0;
  // Inputs in shared memory carry no contents; raw entries belong to the others, in order.
  std::vector<core::ParameterMap> input_params(msg.inputs_size());
  int with_data = 0;
  for (int i = 0; i < msg.inputs_size(); ++i) {
    RETURN_IF_ERROR(ParamsFromProto(msg.inputs(i).parameters(), &input_params[i]));
    with_data += !core::UsesSharedMemory(input_params[i]);
  }
  if (raw && msg.raw_input_contents_size() != with_data) {
    return InvalidArgument("raw_input_contents has " +
                           std::to_string(msg.raw_input_contents_size()) +
                           " entries but the request has " + std::to_string(with_data) +
                           " inputs not in shared memory; when raw_input_contents is used it "
                           "needs one entry per such input, in order");
  }
  int next_raw = 0;
  auto decoded = std::make_shared<std::vector<std::string>>();
  decoded->reserve(msg.inputs_size());
  for (int i = 0; i < msg.inputs_size(); ++i) {
    const auto& in = msg.inputs(i);
    core::RequestInput input;
    input.name = in.name();
    ASSIGN_OR_RETURN(input.tensor.dtype, ParseInputDatatype(in.name(), in.datatype()));
    ASSIGN_OR_RETURN(input.tensor.shape,
                     ParseInputShape(in.name(), in.shape().data(), in.shape_size()));
    input.parameters = std::move(input_params[i]);
    const int64_t typed = in.has_contents() ? TotalContents(in.contents()) : 0;
    if (core::UsesSharedMemory(input.parameters)) {
      if (typed > 0) {
        return InvalidArgument("input '" + in.name() +
                               "' names a shared memory region, so it must not carry contents");
      }
      // core binds the bytes to the region
    } else if (raw) {
      if (typed > 0) {
        return InvalidArgument("input '" + in.name() +
                               "' has both typed contents and an entry in raw_input_contents; "
                               "use one or the other");
      }
      const std::string& bytes = msg.raw_input_contents(next_raw++);
      input.tensor.data = bytes.data();
      input.tensor.byte_size = bytes.size();
    } else {
      std::string& buf = decoded->emplace_back();
      int64_t count = 0;
      RETURN_IF_ERROR(
          TypedDecoder(in.name(), input.tensor.dtype, in.contents(), &buf).Decode(&count));
      RETURN_IF_ERROR(
          CheckElementCount(in.name(), count, input.tensor.shape, "its typed contents"));
      input.tensor.data = buf.data();
      input.tensor.byte_size = buf.size();
    }
    request->inputs.push_back(std::move(input));
  }
  for (const auto& o : msg.outputs()) {
    core::RequestedOutput out;
    out.name = o.name();
    RETURN_IF_ERROR(ParamsFromProto(o.parameters(), &out.parameters));
    RETURN_IF_ERROR(CheckRequestedOutput(out));
    requested->push_back(out.name);
    request->requested_outputs.push_back(std::move(out));
  }
  // The vector never grows past its reservation, so the views stay valid.
  if (!decoded->empty()) request->buffer_owner = std::move(decoded);
  return Status::Ok();
}

Status EncodeInferResponse(const core::InferenceResponse& response,
                           const std::vector<std::string>& requested,
                           inference::ModelInferResponse* msg) {
  msg->set_model_name(response.model_name);
  msg->set_model_version(std::to_string(response.model_version));
  msg->set_id(response.id);
  for (const auto& [key, value] : response.parameters) {
    ToProto(value, &(*msg->mutable_parameters())[key]);
  }
  for (const core::ResponseOutput* out : SelectResponseOutputs(response, requested)) {
    auto* o = msg->add_outputs();
    o->set_name(out->name);
    o->set_datatype(std::string(DataTypeName(out->tensor.dtype())));
    for (int64_t d : out->tensor.shape()) o->add_shape(d);
    if (out->in_shared_memory) {
      // The data is in the client's region; an empty entry keeps raw indexes aligned.
      for (const auto& [key, value] : out->parameters) {
        ToProto(value, &(*o->mutable_parameters())[key]);
      }
      msg->add_raw_output_contents();
      continue;
    }
    msg->add_raw_output_contents()->assign(out->tensor.data(), out->tensor.byte_size());
  }
  return Status::Ok();
}

}  // namespace nereid::server::grpc
