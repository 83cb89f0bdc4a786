#include "protocol/framing.hpp"

#include <fmt/format.h>

#include <cstring>

namespace gatehouse::protocol {

FrameScan scanFrame(std::string_view data, const FrameLimits& limits) {
  if (data.size() < 4) return {FrameStatus::needMore, 8, {}};
  uint32_t lastIndex = 0;
  std::memcpy(&lastIndex, data.data(), 4);
  // lastIndex + 1 would overflow for 0xFFFFFFFF: compare before adding.
  if (lastIndex >= limits.maxSegments) {
    return {FrameStatus::bad, 0,
            fmt::format("segment count {} exceeds the limit of {}", uint64_t{lastIndex} + 1,
                        limits.maxSegments)};
  }
  uint64_t segments = uint64_t{lastIndex} + 1;
  uint64_t headerBytes = (4 + 4 * segments + 7) & ~uint64_t{7};
  if (data.size() < headerBytes) return {FrameStatus::needMore, headerBytes, {}};
  uint64_t total = headerBytes;
  for (uint64_t i = 0; i < segments; ++i) {
    uint32_t words = 0;
    std::memcpy(&words, data.data() + 4 + 4 * i, 4);
    total += uint64_t{words} * 8;
  }
  if (total > limits.maxFrameBytes) {
    return {FrameStatus::bad, 0,
            fmt::format("frame of {} bytes exceeds the limit of {} bytes", total,
                        limits.maxFrameBytes)};
  }
  if (data.size() < total) return {FrameStatus::needMore, total, {}};
  return {FrameStatus::frame, total, {}};
}

void appendFrame(capnp::MessageBuilder& message, std::string& out) {
  auto segments = message.getSegmentsForOutput();
  size_t tableWords = (segments.size() + 2) / 2;  // count + sizes, padded to a word
  size_t start = out.size();
  size_t total = tableWords * 8;
  for (auto s : segments) total += s.size() * 8;
  out.resize(start + total);
  char* p = out.data() + start;
  std::memset(p, 0, tableWords * 8);
  auto count = static_cast<uint32_t>(segments.size() - 1);
  std::memcpy(p, &count, 4);
  for (size_t i = 0; i < segments.size(); ++i) {
    auto size = static_cast<uint32_t>(segments[i].size());
    std::memcpy(p + 4 + 4 * i, &size, 4);
  }
  p += tableWords * 8;
  for (auto s : segments) {
    std::memcpy(p, s.begin(), s.size() * 8);
    p += s.size() * 8;
  }
}

}  // namespace gatehouse::protocol
