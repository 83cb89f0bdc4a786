#define BOOST_TEST_MODULE protocol
#include "protocol/framing.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <random>

#include "gatehouse.capnp.h"

using namespace gatehouse;
using namespace gatehouse::protocol;

namespace {

std::string frameOf(capnp::MessageBuilder& m) {
  auto flat = capnp::messageToFlatArray(m);
  return std::string(reinterpret_cast<const char*>(flat.asBytes().begin()), flat.asBytes().size());
}

std::string sampleFrame(size_t payload = 10) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<wire::Request>();
  r.setId(7);
  r.initAuthorize().setPermission(std::string(payload, 'p'));
  return frameOf(m);
}

std::string header(std::initializer_list<uint32_t> words) {
  std::string s(words.size() * 4, '\0');
  size_t i = 0;
  for (uint32_t w : words) std::memcpy(s.data() + 4 * i++, &w, 4);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(complete_frame_is_found_and_matches_capnp) {
  std::string f = sampleFrame();
  FrameScan scan = scanFrame(f, FrameLimits{});
  BOOST_TEST((scan.status == FrameStatus::frame));
  BOOST_TEST(scan.bytes == f.size());
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(f.data()),
                                        f.size() / 8);
  BOOST_TEST(capnp::expectedSizeInWordsFromPrefix(words) * 8 == scan.bytes);
}

BOOST_AUTO_TEST_CASE(every_truncation_needs_more) {
  std::string f = sampleFrame();
  for (size_t n = 0; n < f.size(); ++n) {
    FrameScan scan = scanFrame(std::string_view(f).substr(0, n), FrameLimits{});
    BOOST_TEST((scan.status == FrameStatus::needMore), "prefix of " << n << " bytes");
  }
}

BOOST_AUTO_TEST_CASE(two_frames_back_to_back_are_split) {
  std::string a = sampleFrame(3), b = sampleFrame(40);
  std::string both = a + b;
  FrameScan first = scanFrame(both, FrameLimits{});
  BOOST_TEST(first.bytes == a.size());
  FrameScan second = scanFrame(std::string_view(both).substr(first.bytes), FrameLimits{});
  BOOST_TEST(second.bytes == b.size());
}

BOOST_AUTO_TEST_CASE(segment_count_overflow_is_refused_before_arithmetic) {
  FrameScan scan = scanFrame(header({0xFFFFFFFFu, 1}), FrameLimits{});
  BOOST_TEST((scan.status == FrameStatus::bad));
  BOOST_TEST(scan.error.find("segment count") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(too_many_segments_is_refused) {
  FrameLimits limits;
  limits.maxSegments = 4;
  BOOST_TEST((scanFrame(header({3, 1, 1, 1, 1, 0}), limits).status != FrameStatus::bad));
  BOOST_TEST((scanFrame(header({4, 1, 1, 1, 1, 1}), limits).status == FrameStatus::bad));
}

BOOST_AUTO_TEST_CASE(huge_declared_size_is_refused_without_the_data) {
  FrameLimits limits;
  limits.maxFrameBytes = 1 << 20;
  FrameScan scan = scanFrame(header({0, 0xFFFFFFFFu}), limits);
  BOOST_TEST((scan.status == FrameStatus::bad));
  BOOST_TEST(scan.error.find("limit of 1048576") != std::string::npos);
  // Two segments whose sum, not each one, crosses the limit.
  FrameScan sum = scanFrame(header({1, 100000, 100000, 0}), limits);
  BOOST_TEST((sum.status == FrameStatus::bad));
  // Exactly at the limit is fine (and needs more data).
  FrameScan edge = scanFrame(header({0, (1 << 17) - 1}), limits);
  BOOST_TEST((edge.status == FrameStatus::needMore));
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash_and_stay_bounded) {
  std::mt19937_64 rng(42);
  FrameLimits limits;
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    FrameScan scan = scanFrame(junk, limits);
    if (scan.status == FrameStatus::frame) BOOST_TEST(scan.bytes <= junk.size());
    if (scan.status == FrameStatus::needMore) BOOST_TEST(scan.bytes <= limits.maxFrameBytes);
  }
}
