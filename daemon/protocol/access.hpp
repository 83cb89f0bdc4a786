// Maps a peer's uid/gid (from SO_PEERCRED) to an access class (docs/protocol.md). The socket file's
// mode and group are the first fence; this is the second. A value type, read-only after start.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "protocol/handler.hpp"

namespace gatehouse::protocol {

struct AccessPolicy {
  std::vector<uint32_t> adminUids;  // The daemon's own uid is always admin.
  std::vector<uint32_t> adminGids;
  std::vector<uint32_t> checkUids;
  std::vector<uint32_t> checkGids;
  AccessClass others = AccessClass::check;  // Everyone else who can open the socket.
  uint32_t selfUid = 0;

  AccessClass classify(uint32_t uid, uint32_t gid) const {
    auto has = [](const std::vector<uint32_t>& v, uint32_t x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    if (uid == selfUid || has(adminUids, uid) || has(adminGids, gid)) return AccessClass::admin;
    if (has(checkUids, uid) || has(checkGids, gid)) return AccessClass::check;
    return others;
  }
};

}  // namespace gatehouse::protocol
