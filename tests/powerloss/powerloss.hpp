// Test side of the power-loss layer (powerloss_shim.cpp): how to run a child process under it.
// After the child is killed, `recoverFromUndoLog` (undo_log.hpp) drops what was not durable.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "undo_log.hpp"

namespace gatehouse::powerloss {

// "NAME=value" entries that run a child under the layer, its undo log at `log`, each sync of its
// data file delayed by `syncDelayUs` (GATEHOUSE_POWERLOSS_SYNC_DELAY_US: a slower disk).
//
// In the ASan build the child is sanitized and the layer is not: ASan refuses to start when its
// runtime is not first in the library list, which LD_PRELOAD makes it. The check guards against
// a preloaded library that would bypass ASan's interceptors; this one forwards every call it
// interposes to the next definition, which is ASan's, so the check is turned off for the child.
inline std::vector<std::string> preloadEnvironment(const std::filesystem::path& log,
                                                   unsigned syncDelayUs = 0) {
  const char* inherited = std::getenv("ASAN_OPTIONS");
  std::string asan = inherited != nullptr && *inherited != '\0' ? std::string(inherited) + ":" : "";
  return {std::string("LD_PRELOAD=") + GATEHOUSE_POWERLOSS_LIBRARY,
          "GATEHOUSE_POWERLOSS_LOG=" + log.string(),
          "GATEHOUSE_POWERLOSS_SYNC_DELAY_US=" + std::to_string(syncDelayUs),
          "ASAN_OPTIONS=" + asan + "verify_asan_link_order=0"};
}

}  // namespace gatehouse::powerloss
