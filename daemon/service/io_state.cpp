#include "service/io_state.hpp"

namespace gatehouse::service {

IoState::IoState(store::Store& store, const credentials::SecretBytes& keyTagKey,
                 size_t verifiedKeys, Counting& counting)
    : snapshot_(store),
      counters_(counting.add(snapshot_.counters())),
      scratch_(new capnp::word[kScratchWords]()),
      verifiedKeys_(keyTagKey, verifiedKeys, &counters_->verifiedKeys) {}

void IoState::release() {
  if (!open_) return;
  snapshot_.end();
  open_ = false;
}

}  // namespace gatehouse::service
