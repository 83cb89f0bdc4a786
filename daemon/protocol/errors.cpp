#include "protocol/errors.hpp"

#include <capnp/message.h>

#include <cstring>

#include "protocol/framing.hpp"

namespace gatehouse::protocol {

void setError(wire::Response::Builder response, wire::ErrorCode code, std::string_view message,
              const std::vector<std::string>& missing) {
  auto error = response.initError();
  error.setCode(code);
  // The message may be a view that is not NUL-terminated (e.g. into the map): copy its bytes.
  auto text = error.initMessage(static_cast<unsigned>(message.size()));
  std::memcpy(text.begin(), message.data(), message.size());
  if (missing.empty()) return;
  auto list = error.initMissing(static_cast<unsigned>(missing.size()));
  for (unsigned i = 0; i < missing.size(); ++i) list.set(i, missing[i]);
}

void appendError(uint64_t id, wire::ErrorCode code, std::string_view message, std::string& out) {
  capnp::MallocMessageBuilder builder(256);
  auto response = builder.initRoot<wire::Response>();
  response.setId(id);
  setError(response, code, message);
  appendFrame(builder, out);
}

std::string errorFrame(uint64_t id, wire::ErrorCode code, std::string_view message) {
  std::string frame;
  appendError(id, code, message, frame);
  return frame;
}

}  // namespace gatehouse::protocol
