// Error answers (docs/protocol.md#errors: errors are values, not dropped connections). Every error
// answer the daemon sends is built by `setError`; `appendError` and `errorFrame` wrap it for
// callers that have no response builder of their own (the server's framing errors, answers from
// other threads).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse.capnp.h"

namespace gatehouse::protocol {

// Makes `response` an error with `code`, `message` and, for `escalation` and `forbidden`, the
// permissions the actor lacks.
void setError(wire::Response::Builder response, wire::ErrorCode code, std::string_view message,
              const std::vector<std::string>& missing = {});

// Appends a framed error answer for request `id` to `out`.
void appendError(uint64_t id, wire::ErrorCode code, std::string_view message, std::string& out);

// A framed error answer for request `id`.
std::string errorFrame(uint64_t id, wire::ErrorCode code, std::string_view message);

}  // namespace gatehouse::protocol
