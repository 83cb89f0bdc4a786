// Test side of the power-loss layer (powerloss_shim.cpp): how to run a child process under it.
// After the child is killed, `recoverFromUndoLog` (undo_log.hpp) drops what was not durable.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "daemon_fixture.hpp"
#include "undo_log.hpp"

namespace gatehouse::powerloss {

// "NAME=value" entries that run a child under the layer, its undo log at `log`, each sync of its
// data file delayed by `syncDelayUs` (GATEHOUSE_POWERLOSS_SYNC_DELAY_US: a slower disk).
// In the ASan build the child is sanitized and the layer is not (see preloadAsanOptions).
inline std::vector<std::string> preloadEnvironment(const std::filesystem::path& log,
                                                   unsigned syncDelayUs = 0) {
  return {std::string("LD_PRELOAD=") + GATEHOUSE_POWERLOSS_LIBRARY,
          "GATEHOUSE_POWERLOSS_LOG=" + log.string(),
          "GATEHOUSE_POWERLOSS_SYNC_DELAY_US=" + std::to_string(syncDelayUs),
          testing::preloadAsanOptions()};
}

}  // namespace gatehouse::powerloss
