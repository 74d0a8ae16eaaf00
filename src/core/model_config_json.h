// ModelConfig as JSON, the way Triton's /config endpoint prints it: proto
// field names, every primitive field (also at its default), enums by name,
// 64-bit integers as JSON numbers (protobuf's own printer would quote them).
#pragma once

#include <string>

namespace google::protobuf {
class Message;
}

namespace nereid::core {

std::string MessageToTritonJson(const google::protobuf::Message& message);

}  // namespace nereid::core
