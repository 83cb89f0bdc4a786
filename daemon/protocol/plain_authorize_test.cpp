// The hot path's shortcut against Cap'n Proto itself: whatever frame the shortcut answers, the
// full reader reads the same request from it; whatever answer it writes, the builder writes the
// same bytes.
#include "protocol/plain_authorize.hpp"

#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gatehouse.capnp.h"
#include "protocol/framing.hpp"

using namespace gatehouse;
using namespace gatehouse::protocol;

namespace {

// A frame as words (aligned, as the server hands frames over).
using Frame = std::vector<capnp::word>;

Frame frameOf(capnp::MessageBuilder& m) {
  auto flat = capnp::messageToFlatArray(m);
  return Frame(flat.begin(), flat.end());
}

kj::ArrayPtr<const capnp::word> words(const Frame& f) { return kj::arrayPtr(f.data(), f.size()); }

char* bytesOf(Frame& f) { return reinterpret_cast<char*>(f.data()); }

uint64_t wordAt(Frame& f, size_t index) {
  uint64_t v;
  std::memcpy(&v, bytesOf(f) + index * 8, 8);
  return v;
}

void setWord(Frame& f, size_t index, uint64_t v) { std::memcpy(bytesOf(f) + index * 8, &v, 8); }

Frame authorizeFrame(uint64_t id, uint64_t principal, uint64_t company,
                     const std::string& permission, uint64_t minRevision = 0) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<wire::Request>();
  r.setId(id);
  r.setMinRevision(minRevision);
  auto q = r.initAuthorize();
  q.setPrincipal(principal);
  q.setCompany(company);
  q.setPermission(permission);
  return frameOf(m);
}

// What the full reader makes of `frame`, when it reads it as a plain authorize without throwing.
std::optional<PlainAuthorize> readerDecode(const Frame& frame, std::string& permission) {
  try {
    capnp::FlatArrayMessageReader message(words(frame));
    auto r = message.getRoot<wire::Request>();
    if (!r.isAuthorize() || r.getMinRevision() != 0) return std::nullopt;
    auto q = r.getAuthorize();
    auto text = q.getPermission();
    permission.assign(text.begin(), text.size());  // a NUL inside included, as the service reads it
    return PlainAuthorize{r.getId(), q.getPrincipal(), q.getCompany(), permission};
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

void requireSameAsReader(const PlainAuthorizeCodec& codec, const Frame& frame) {
  auto fast = codec.decode(words(frame));
  if (!fast) return;  // declined: the reader handles it
  std::string permission;
  auto full = readerDecode(frame, permission);
  BOOST_REQUIRE_MESSAGE(full.has_value(), "the shortcut took a frame the reader refuses");
  BOOST_TEST(fast->id == full->id);
  BOOST_TEST(fast->principal == full->principal);
  BOOST_TEST(fast->company == full->company);
  BOOST_TEST(fast->permission == full->permission);
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_shortcut_is_on_for_the_compiled_schema) {
  BOOST_TEST(PlainAuthorizeCodec().enabled());
}

BOOST_AUTO_TEST_CASE(a_plain_authorize_is_read_as_the_reader_reads_it) {
  PlainAuthorizeCodec codec;
  for (const std::string& permission :
       {std::string(""), std::string("r"), std::string("routers.read"), std::string(7, 'x'),
        std::string(8, 'y'), std::string(300, 'z'), std::string("ünïcödé.perm")}) {
    Frame f = authorizeFrame(0xfedcba9876543210, 42, 7, permission);
    auto q = codec.decode(words(f));
    BOOST_REQUIRE(q.has_value());
    BOOST_TEST(q->id == 0xfedcba9876543210u);
    BOOST_TEST(q->principal == 42u);
    BOOST_TEST(q->company == 7u);
    BOOST_TEST(q->permission == permission);
    requireSameAsReader(codec, f);
  }
}

BOOST_AUTO_TEST_CASE(other_requests_and_a_minimum_revision_are_declined) {
  PlainAuthorizeCodec codec;
  BOOST_TEST(!codec.decode(words(authorizeFrame(1, 2, 3, "p", 9))).has_value());
  capnp::MallocMessageBuilder ping;
  ping.initRoot<wire::Request>().setPing();
  BOOST_TEST(!codec.decode(words(frameOf(ping))).has_value());
  capnp::MallocMessageBuilder batch;
  batch.initRoot<wire::Request>().initAuthorizeBatch(1)[0].setPermission("p");
  BOOST_TEST(!codec.decode(words(frameOf(batch))).has_value());
  capnp::MallocMessageBuilder lookup;
  lookup.initRoot<wire::Request>().initLookup().setName("acme");
  BOOST_TEST(!codec.decode(words(frameOf(lookup))).has_value());
  // An authorize without a permission (a null pointer) is the reader's: it reads "".
  capnp::MallocMessageBuilder unset;
  unset.initRoot<wire::Request>().initAuthorize().setPrincipal(5);
  BOOST_TEST(!codec.decode(words(frameOf(unset))).has_value());
}

BOOST_AUTO_TEST_CASE(frames_out_of_the_ordinary_are_declined) {
  PlainAuthorizeCodec codec;
  Frame good = authorizeFrame(1, 2, 3, "routers.read");
  BOOST_REQUIRE(codec.decode(words(good)).has_value());
  // Empty, or only a segment table.
  BOOST_TEST(!codec.decode(kj::ArrayPtr<const capnp::word>()).has_value());
  BOOST_TEST(!codec.decode(words(Frame(good.begin(), good.begin() + 1))).has_value());
  // A segment table that claims two segments, or another size.
  Frame twoSegments = good;
  uint32_t one = 1;
  std::memcpy(bytesOf(twoSegments), &one, 4);
  BOOST_TEST(!codec.decode(words(twoSegments)).has_value());
  Frame truncated(good.begin(), good.end() - 1);
  BOOST_TEST(!codec.decode(words(truncated)).has_value());
  // The text's NUL replaced: the reader refuses it, and so does the shortcut.
  Frame noNul = good;
  auto* bytes = reinterpret_cast<char*>(noNul.data());
  size_t nul = std::string_view(bytes, noNul.size() * 8).rfind("routers.read") + 12;
  bytes[nul] = 'x';
  BOOST_TEST(!codec.decode(words(noNul)).has_value());
  std::string ignored;
  BOOST_TEST(!readerDecode(noNul, ignored).has_value());
  // A root that is a far pointer (kind 2).
  Frame far = good;
  setWord(far, 1, (wordAt(far, 1) & ~uint64_t{3}) | 2);
  BOOST_TEST(!codec.decode(words(far)).has_value());
}

BOOST_AUTO_TEST_CASE(a_struct_shorter_than_the_schema_reads_missing_fields_as_zero) {
  // An AuthorizeQuery of one data word (as an encoder of an older schema could write it): its
  // pointer is rewritten to a data section of one word starting a word later, so that the
  // pointer section stays where it was. The reader and the shortcut both read principal from the
  // word that held company, and company, now past the section, as zero.
  PlainAuthorizeCodec codec;
  Frame f = authorizeFrame(11, 22, 33, "p");
  bool shrunk = false;
  for (size_t i = 1; i < f.size() && !shrunk; ++i) {
    uint64_t p = wordAt(f, i);
    // The query's pointer: the only struct pointer of 2 data words and 1 pointer.
    if ((p & 3) != 0 || p == 0 || ((p >> 32) & 0xffff) != 2 || (p >> 48) != 1) continue;
    int64_t offset = static_cast<int32_t>(static_cast<uint32_t>(p)) >> 2;
    uint64_t moved =
        static_cast<uint32_t>((offset + 1) * 4) | (uint64_t{1} << 32) | (uint64_t{1} << 48);
    setWord(f, i, moved);
    shrunk = true;
  }
  BOOST_REQUIRE(shrunk);
  auto q = codec.decode(words(f));
  BOOST_REQUIRE(q.has_value());
  BOOST_TEST(q->principal == 33u);
  BOOST_TEST(q->company == 0u);
  requireSameAsReader(codec, f);
}

BOOST_AUTO_TEST_CASE(mutated_frames_are_read_as_the_reader_reads_them_or_declined) {
  PlainAuthorizeCodec codec;
  std::mt19937_64 random(20261130);
  const std::vector<Frame> seeds = {
      authorizeFrame(1, 2, 3, "routers.read"), authorizeFrame(0, 0, 0, ""),
      authorizeFrame(~uint64_t{0}, 1u << 31, 77, std::string(40, 'q'))};
  size_t accepted = 0, declined = 0;
  for (int i = 0; i < 200000; ++i) {
    Frame f = seeds[random() % seeds.size()];
    auto* bytes = reinterpret_cast<unsigned char*>(f.data());
    size_t size = f.size() * 8;
    int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t at = random() % size;
      switch (random() % 3) {
        case 0:
          bytes[at] ^= static_cast<unsigned char>(1u << (random() % 8));
          break;
        case 1:
          bytes[at] = static_cast<unsigned char>(random());
          break;
        default:
          bytes[at] = (random() % 2) != 0 ? 0 : 0xff;
          break;
      }
    }
    if (codec.decode(words(f))) {
      ++accepted;
    } else {
      ++declined;
    }
    requireSameAsReader(codec, f);
  }
  BOOST_TEST_MESSAGE("mutated frames: " << accepted << " read, " << declined << " declined");
  BOOST_TEST(accepted > 0u);
  BOOST_TEST(declined > 0u);
}

BOOST_AUTO_TEST_CASE(the_answer_is_what_the_builder_writes) {
  PlainAuthorizeCodec codec;
  const uint64_t ids[] = {0, 1, 0x0123456789abcdef};
  const uint64_t revisions[] = {0, 17, ~uint64_t{0}};
  auto reasons = capnp::Schema::from<wire::DenyReason>().getEnumerants();
  for (uint64_t id : ids) {
    for (uint64_t revision : revisions) {
      for (auto enumerant : reasons) {
        for (bool allowed : {false, true}) {
          auto reason = static_cast<wire::DenyReason>(enumerant.getOrdinal());
          capnp::MallocMessageBuilder m;
          auto r = m.initRoot<wire::Response>();
          r.setId(id);
          auto d = r.initAuthorize();
          d.setAllowed(allowed);
          d.setReason(reason);
          d.setRevision(revision);
          std::string expected;
          appendFrame(m, expected);
          std::string out = "before";
          codec.appendDecision(id, allowed, reason, revision, out);
          BOOST_TEST((out == "before" + expected), "id " << id << " revision " << revision
                                                         << " reason " << enumerant.getOrdinal()
                                                         << " allowed " << allowed);
        }
      }
    }
  }
}
