#include "service/io_state.hpp"

namespace gatehouse::service {

IoState::IoState(store::Store& store, const credentials::SecretBytes& keyTagKey,
                 size_t verifiedKeys)
    : snapshot_(store),
      scratch_(new capnp::word[kScratchWords]()),
      verifiedKeys_(keyTagKey, verifiedKeys) {}

void IoState::release() {
  if (!open_) return;
  snapshot_.end();
  open_ = false;
}

}  // namespace gatehouse::service
