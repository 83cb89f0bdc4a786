// The hot path's shortcut (docs/performance.md, "Cost per check"): a frame that holds a plain
// `authorize` — one segment, every pointer in bounds and where the encoder puts it, no
// `minRevision` — is read straight from its words, and its `Decision` is written by patching a
// pre-encoded answer, without a message reader or builder. Anything else is declined, and the
// caller reads the frame with Cap'n Proto as before: the shortcut never answers a frame the full
// reader would answer differently (protocol/plain_authorize_test.cpp checks both against each
// other on canonical, hand-made and mutated frames).
//
// Field positions come from the schema compiled in (Cap'n Proto's reflection), not from numbers
// written here: a schema change moves them with it. A schema in which a field the shortcut reads
// is not where it can read it (a default other than zero, a type changed) turns the shortcut off:
// `enabled()` is false and every frame is declined.
//
// A value type, immutable after construction; thread-safe.
#pragma once

#include <capnp/common.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gatehouse.capnp.h"

namespace gatehouse::protocol {

struct PlainAuthorize {
  uint64_t id = 0;
  uint64_t principal = 0;
  uint64_t company = 0;
  std::string_view permission;  // points into the frame
};

class PlainAuthorizeCodec {
 public:
  PlainAuthorizeCodec();

  bool enabled() const { return enabled_; }

  // The request in `frame` (a whole frame: segment table and segment, as scanFrame delimits it)
  // when it is a plain authorize; nullopt when the full reader must handle it.
  std::optional<PlainAuthorize> decode(kj::ArrayPtr<const capnp::word> frame) const;

  // Appends the framed answer to request `id`: a `Response` holding `authorize`, byte for byte
  // what Cap'n Proto's builder writes for it.
  void appendDecision(uint64_t id, bool allowed, wire::DenyReason reason, uint64_t revision,
                      std::string& out) const;

 private:
  // Byte offsets inside a struct's data section, and pointer indexes.
  struct RequestLayout {
    uint32_t idByte = 0;
    uint32_t minRevisionByte = 0;
    uint32_t discriminantByte = 0;
    uint16_t authorizeDiscriminant = 0;
    uint32_t authorizePointer = 0;
    uint32_t principalByte = 0;
    uint32_t companyByte = 0;
    uint32_t permissionPointer = 0;
  };
  // Byte offsets inside the encoded answer (from the start of its frame).
  struct AnswerLayout {
    size_t idByte = 0;
    size_t allowedByte = 0;
    uint8_t allowedMask = 0;
    size_t reasonByte = 0;
    size_t revisionByte = 0;
  };

  bool enabled_ = false;
  RequestLayout request_;
  AnswerLayout answer_;
  std::string answerTemplate_;  // the framed answer with every patched field zero
};

}  // namespace gatehouse::protocol
