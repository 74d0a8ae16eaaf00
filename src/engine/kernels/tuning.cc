// TuningParams (tuning.h): parsing and printing "key=value;..." parameters.
#include "engine/kernels/tuning.h"

namespace nereid::engine {
namespace {

bool KeyChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool ValueChar(char c) { return c > ' ' && c < 127 && c != ';' && c != '='; }

}  // namespace

StatusOr<TuningParams> TuningParams::Parse(std::string_view text) {
  TuningParams params;
  if (text.empty()) return params;
  auto bad = [&](const std::string& why) {
    return InvalidArgument("malformed tuning parameters '" + Printable(text) + "': " + why);
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return bad("expected key=value, got '" + Printable(item) + "'");
    }
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    if (key.empty() || value.empty()) {
      return bad("empty key or value in '" + Printable(item) + "'");
    }
    for (char c : key) {
      if (!KeyChar(c)) return bad("bad character in key '" + Printable(key) + "'");
    }
    for (char c : value) {
      if (!ValueChar(c)) return bad("bad character in the value of '" + std::string(key) + "'");
    }
    if (!params.values_.emplace(std::string(key), std::string(value)).second) {
      return bad("key '" + std::string(key) + "' given twice");
    }
    pos = end + 1;
  }
  return params;
}

Status TuningParams::CheckKeys(std::initializer_list<std::string_view> known,
                               std::string_view who) const {
  for (const auto& [key, value] : values_) {
    bool found = false;
    for (std::string_view k : known) found = found || k == key;
    if (!found) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return InvalidArgument("unknown tuning parameter '" + key + "' for " + std::string(who) +
                             " (it takes: " + (list.empty() ? "none" : list) + ")");
    }
  }
  return Status::Ok();
}

std::optional<std::string> TuningParams::Get(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

void TuningParams::Set(const std::string& key, const std::string& value) {
  if (value.empty()) {
    values_.erase(key);
  } else {
    values_[key] = value;
  }
}

void TuningParams::Erase(std::string_view key) {
  auto it = values_.find(key);
  if (it != values_.end()) values_.erase(it);
}

std::string TuningParams::Printable(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string TuningParams::ToString() const {
  std::string text;
  for (const auto& [key, value] : values_) {
    if (!text.empty()) text += ';';
    text += key + "=" + value;
  }
  return text;
}

}  // namespace nereid::engine
