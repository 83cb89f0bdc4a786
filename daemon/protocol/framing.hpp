// Stream framing of Cap'n Proto messages, written once for the daemon, its clients and the
// benchmarks: the standard stream framing (segment table, then segments) of `capnp::serialize`.
//
// `scanFrame` is a pure function — bytes in, "need more", "one frame of N bytes" or "bad input"
// out — and the fuzz target. The segment count field is checked against the limit before it is
// used in any arithmetic (Cap'n Proto 0.9.2's own async reader overflows on 0xFFFFFFFF), and the
// declared total is checked against the frame limit before any buffer is grown for it.
// `appendFrame` writes a built message the one way every frame is written.
#pragma once

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::protocol {

struct FrameLimits {
  size_t maxFrameBytes = size_t{1} << 20;
  uint32_t maxSegments = 64;
};

enum class FrameStatus : uint8_t { needMore, frame, bad };

struct FrameScan {
  FrameStatus status;
  size_t bytes = 0;   // frame: the frame's size; needMore: the size known to be needed so far.
  std::string error;  // bad: what was wrong, naming the limit.
};

// Looks at the start of `data` (which may hold a partial frame, one frame, or several).
FrameScan scanFrame(std::string_view data, const FrameLimits& limits);

// Appends `message` to `out` in stream framing. Allocates only when `out` must grow.
void appendFrame(capnp::MessageBuilder& message, std::string& out);

}  // namespace gatehouse::protocol
