#include "core/repository/config_parser.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <set>

#include "core/ensemble/ensemble_config.h"
#include "proto/model_config.pb.h"

namespace nereid::core {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
    }
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

struct ConfigLocator::Tree {
  TextFormat::ParseInfoTree info;
};

ConfigLocator::ConfigLocator() = default;
ConfigLocator::~ConfigLocator() = default;
ConfigLocator::ConfigLocator(ConfigLocator&&) noexcept = default;
ConfigLocator& ConfigLocator::operator=(ConfigLocator&&) noexcept = default;

int ConfigLocator::LineOf(std::string_view path) const {
  if (!tree_) return 0;
  const Descriptor* desc = inference::ModelConfig::descriptor();
  const TextFormat::ParseInfoTree* tree = &tree_->info;
  int line = 0;
  while (!path.empty() && tree && desc) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    int index = -1;
    size_t bracket = part.find('[');
    if (bracket != std::string_view::npos) {
      index = std::atoi(std::string(part.substr(bracket + 1)).c_str());
      part = part.substr(0, bracket);
    }
    const FieldDescriptor* field = desc->FindFieldByName(std::string(part));
    if (!field) break;
    if (field->is_repeated() && index < 0) index = 0;
    if (!field->is_repeated()) index = -1;
    auto loc = tree->GetLocation(field, index);
    // List syntax (`input [ {..}, {..} ]`) records one location for the list.
    if (loc.line < 0 && index > 0) loc = tree->GetLocation(field, 0);
    if (loc.line < 0) {
      // The field is absent: point at the first field written in the
      // enclosing message instead (better than the enclosing list's line).
      if (tree != &tree_->info) {
        int best = -1;
        for (int i = 0; i < desc->field_count(); ++i) {
          const FieldDescriptor* f = desc->field(i);
          auto l = tree->GetLocation(f, f->is_repeated() ? 0 : -1);
          if (l.line >= 0 && (best < 0 || l.line < best)) best = l.line;
        }
        if (best >= 0) line = best + 1;
      }
      break;
    }
    line = loc.line + 1;
    if (field->type() != FieldDescriptor::TYPE_MESSAGE) break;
    tree = tree->GetTreeForNested(field, index);
    desc = field->message_type();
  }
  return line;
}

Status ConfigLocator::Error(std::string_view path, std::string_view message) const {
  std::string where = file_.empty() ? "model configuration" : file_;
  int line = LineOf(path);
  if (line > 0) where += ":" + std::to_string(line);
  return InvalidArgument(where + ": field '" + std::string(path) + "': " + std::string(message));
}

StatusOr<ConfigLocator> ParseModelConfig(std::string_view text, const std::string& file,
                                         inference::ModelConfig* config) {
  ConfigLocator locator;
  locator.file_ = file;
  locator.tree_ = std::make_unique<ConfigLocator::Tree>();
  TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&locator.tree_->info);
  if (!parser.ParseFromString(std::string(text), config)) {
    return InvalidArgument(file + ":" +
                           (errors.first().empty() ? std::string("invalid text format")
                                                   : errors.first()));
  }
  return locator;
}

namespace {

template <typename Tensor>
Status CheckTensors(const ConfigLocator& where, const char* field,
                    const google::protobuf::RepeatedPtrField<Tensor>& tensors) {
  std::set<std::string> seen;
  for (int i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    std::string path = std::string(field) + "[" + std::to_string(i) + "]";
    if (t.name().empty()) return where.Error(path + ".name", "must not be empty");
    if (!seen.insert(t.name()).second) {
      return where.Error(path + ".name", "duplicate " + std::string(field) + " name '" +
                                             t.name() + "'");
    }
    if (t.data_type() == inference::TYPE_INVALID) {
      return where.Error(path + ".data_type", std::string(field) + " '" + t.name() +
                                                  "' must set a data_type other than TYPE_INVALID");
    }
    for (int d = 0; d < t.dims_size(); ++d) {
      if (t.dims(d) < -1) {
        return where.Error(path + ".dims", std::string(field) + " '" + t.name() +
                                               "' has dimension " + std::to_string(t.dims(d)) +
                                               "; dimensions must be >= -1");
      }
    }
    if (t.has_reshape()) {
      return where.Error(path + ".reshape", "reshape is not supported yet");
    }
  }
  return Status::Ok();
}

bool IsCorrIdType(inference::DataType t) {
  return t == inference::TYPE_UINT64 || t == inference::TYPE_INT64 ||
         t == inference::TYPE_UINT32 || t == inference::TYPE_INT32 ||
         t == inference::TYPE_STRING;
}

Status CheckSequenceBatching(const ConfigLocator& where, const inference::ModelConfig& config) {
  const auto& sb = config.sequence_batching();
  std::set<std::string> taken;
  for (const auto& in : config.input()) taken.insert(in.name());
  for (int i = 0; i < sb.control_input_size(); ++i) {
    const auto& ci = sb.control_input(i);
    const std::string path = "sequence_batching.control_input[" + std::to_string(i) + "]";
    if (ci.name().empty()) return where.Error(path + ".name", "must not be empty");
    if (!taken.insert(ci.name()).second) {
      return where.Error(path + ".name", "control input '" + ci.name() +
                                             "' is also a model input or another control");
    }
    if (ci.control_size() != 1) {
      return where.Error(path + ".control", "control input '" + ci.name() +
                                                "' needs exactly one control");
    }
    const auto& c = ci.control(0);
    using Kind = inference::ModelSequenceBatching::Control;
    if (c.kind() == Kind::CONTROL_SEQUENCE_CORRID) {
      if (!IsCorrIdType(c.data_type())) {
        return where.Error(path + ".control.data_type",
                           "CONTROL_SEQUENCE_CORRID '" + ci.name() +
                               "' needs data_type TYPE_UINT64, TYPE_INT64, TYPE_UINT32, "
                               "TYPE_INT32 or TYPE_STRING");
      }
      continue;
    }
    const int forms = (c.int32_false_true_size() > 0) + (c.fp32_false_true_size() > 0) +
                      (c.bool_false_true_size() > 0);
    const int values = c.int32_false_true_size() + c.fp32_false_true_size() +
                       c.bool_false_true_size();
    if (forms != 1 || values != 2) {
      return where.Error(path + ".control",
                         "control '" + ci.name() +
                             "' needs exactly one of int32_false_true, fp32_false_true or "
                             "bool_false_true with two values (false, true)");
    }
  }
  std::set<std::string> outputs;
  for (const auto& out : config.output()) outputs.insert(out.name());
  for (int i = 0; i < sb.state_size(); ++i) {
    const auto& st = sb.state(i);
    const std::string path = "sequence_batching.state[" + std::to_string(i) + "]";
    if (st.input_name().empty() || st.output_name().empty()) {
      return where.Error(path, "state needs input_name and output_name");
    }
    if (!taken.insert(st.input_name()).second) {
      return where.Error(path + ".input_name", "state input '" + st.input_name() +
                                                   "' is also a model input or a control");
    }
    if (outputs.count(st.output_name())) {
      return where.Error(path + ".output_name",
                         "state output '" + st.output_name() +
                             "' is also a model output (state outputs are kept by the server)");
    }
    if (st.data_type() == inference::TYPE_INVALID || st.data_type() == inference::TYPE_STRING) {
      return where.Error(path + ".data_type", "state '" + st.input_name() +
                                                  "' needs a numeric data_type");
    }
    const auto& dims = st.initial_state_size() > 0 && st.initial_state(0).dims_size() > 0
                           ? st.initial_state(0).dims()
                           : st.dims();
    for (int64_t d : dims) {
      if (d < 0) {
        return where.Error(path + ".dims",
                           "state '" + st.input_name() +
                               "' has a variable dimension: give initial_state dims so the "
                               "first request of a sequence has a state to start from");
      }
    }
  }
  if (sb.has_oldest()) {
    for (int32_t size : sb.oldest().preferred_batch_size()) {
      if (size < 1 || (config.max_batch_size() > 0 && size > config.max_batch_size())) {
        return where.Error("sequence_batching.oldest.preferred_batch_size",
                           "preferred batch size " + std::to_string(size) +
                               " must be in [1, max_batch_size]");
      }
    }
    if (sb.oldest().max_candidate_sequences() < 0) {
      return where.Error("sequence_batching.oldest.max_candidate_sequences", "must be >= 0");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckResponseCache(const ConfigLocator& where, const inference::ModelConfig& config) {
  if (!config.response_cache().enable()) return Status::Ok();
  // Where Triton refuses (model_config_utils: the sequence batcher and
  // decoupled models do not support the response cache).
  if (config.has_sequence_batching()) {
    return where.Error("response_cache.enable",
                       "the response cache does not support model '" + config.name() +
                           "' with the sequence batching scheduler; disable response_cache");
  }
  if (config.model_transaction_policy().decoupled()) {
    return where.Error("response_cache.enable",
                       "the response cache does not support model '" + config.name() +
                           "' with the decoupled transaction policy; disable response_cache");
  }
  return Status::Ok();
}

Status ValidateAndNormalize(const std::string& model_name, const ConfigLocator& where,
                            inference::ModelConfig* config) {
  if (config->name().empty()) config->set_name(model_name);
  if (config->name() != model_name) {
    return where.Error("name", "model name '" + config->name() +
                                   "' does not match its directory name '" + model_name + "'");
  }
  if (config->max_batch_size() < 0) {
    return where.Error("max_batch_size", "must be >= 0, got " +
                                             std::to_string(config->max_batch_size()));
  }
  if (config->input_size() == 0) return where.Error("input", "the model declares no inputs");
  if (config->output_size() == 0) return where.Error("output", "the model declares no outputs");
  RETURN_IF_ERROR(CheckTensors(where, "input", config->input()));
  RETURN_IF_ERROR(CheckTensors(where, "output", config->output()));

  RETURN_IF_ERROR(CheckResponseCache(where, *config));
  if (config->has_sequence_batching()) RETURN_IF_ERROR(CheckSequenceBatching(where, *config));
  const bool ensemble = IsEnsembleConfig(*config);
  if (ensemble) RETURN_IF_ERROR(ValidateEnsembleConfig(where, *config));

  if (config->has_dynamic_batching()) {
    const auto& db = config->dynamic_batching();
    for (int i = 0; i < db.preferred_batch_size_size(); ++i) {
      const int32_t size = db.preferred_batch_size(i);
      if (size < 1 || (config->max_batch_size() > 0 && size > config->max_batch_size())) {
        return where.Error("dynamic_batching.preferred_batch_size",
                           "preferred batch size " + std::to_string(size) +
                               " must be in [1, max_batch_size = " +
                               std::to_string(config->max_batch_size()) + "]");
      }
    }
    const uint64_t levels = db.priority_levels();
    if (levels > 0 && (db.default_priority_level() < 1 || db.default_priority_level() > levels)) {
      return where.Error("dynamic_batching.default_priority_level",
                         "must be in [1, priority_levels = " + std::to_string(levels) +
                             "], got " + std::to_string(db.default_priority_level()));
    }
    if (levels == 0 && db.default_priority_level() != 0) {
      return where.Error("dynamic_batching.default_priority_level",
                         "is set but priority_levels is 0");
    }
    for (const auto& [level, unused] : db.priority_queue_policy()) {
      if (level < 1 || level > levels) {
        return where.Error("dynamic_batching.priority_queue_policy",
                           "priority level " + std::to_string(level) +
                               " is outside [1, priority_levels = " + std::to_string(levels) +
                               "]");
      }
    }
  }

  auto* policy = config->mutable_version_policy();
  if (policy->policy_choice_case() == inference::ModelVersionPolicy::POLICY_CHOICE_NOT_SET) {
    policy->mutable_latest()->set_num_versions(1);
  } else if (policy->has_latest() && policy->latest().num_versions() == 0) {
    return where.Error("version_policy.latest.num_versions", "must be at least 1");
  }

  if (ensemble) return Status::Ok();  // no instances: the ensemble scheduler runs the steps
  if (config->instance_group_size() == 0) config->add_instance_group();
  for (int i = 0; i < config->instance_group_size(); ++i) {
    auto* g = config->mutable_instance_group(i);
    std::string path = "instance_group[" + std::to_string(i) + "]";
    if (g->count() < 0) return where.Error(path + ".count", "must be >= 0");
    if (g->count() == 0) g->set_count(1);
    if (g->kind() == inference::ModelInstanceGroup::KIND_GPU || g->gpus_size() > 0) {
      return where.Error(path + ".kind",
                         "KIND_GPU instances were requested but this server has no GPU support "
                         "in use; use KIND_CPU");
    }
    if (g->kind() == inference::ModelInstanceGroup::KIND_AUTO) {
      g->set_kind(inference::ModelInstanceGroup::KIND_CPU);
    }
    if (g->name().empty()) g->set_name(config->name() + "_" + std::to_string(i));
  }
  return Status::Ok();
}

}  // namespace nereid::core
