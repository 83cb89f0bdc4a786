#include "config/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <sstream>

namespace gatehouse::config {
namespace {

// One [section] of the file: typed readers that record which keys were used, so that anything
// left over is refused by finish().
class Section {
 public:
  Section(const toml::table* table, std::string name) : table_(table), name_(std::move(name)) {}

  template <typename T>
  void integer(std::string_view key, T& out, int64_t min, int64_t max) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    auto v = node->value<int64_t>();
    if (!node->is_integer() || !v) throw error(key, "must be an integer");
    if (*v < min || *v > max) {
      throw error(key, fmt::format("is {}, must be between {} and {}", *v, min, max));
    }
    out = static_cast<T>(*v);
  }

  void string(std::string_view key, std::string& out) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    if (!node->is_string()) throw error(key, "must be a string");
    out = *node->value<std::string>();
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    if (!node->is_boolean()) throw error(key, "must be true or false");
    out = *node->value<bool>();
  }

  void ids(std::string_view key, std::vector<uint32_t>& out) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) throw error(key, "must be an array of integers");
    out.clear();
    for (const auto& item : *array) {
      auto v = item.value<int64_t>();
      if (!item.is_integer() || !v || *v < 0 || *v > 0xFFFFFFFF) {
        throw error(key, "must hold only integers between 0 and 4294967295");
      }
      out.push_back(static_cast<uint32_t>(*v));
    }
  }

  void strings(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = find(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) throw error(key, "must be an array of strings");
    out.clear();
    for (const auto& item : *array) {
      if (!item.is_string()) throw error(key, "must hold only strings");
      out.push_back(*item.value<std::string>());
    }
  }

  template <typename Rep, typename Period>
  void duration(std::string_view key, std::chrono::duration<Rep, Period>& out, int64_t min,
                int64_t max) {
    int64_t v = out.count();
    integer(key, v, min, max);
    out = std::chrono::duration<Rep, Period>(v);
  }

  bool present() const { return table_ != nullptr; }

  void finish() const {
    if (table_ == nullptr) return;
    for (const auto& [key, value] : *table_) {
      if (!used_.contains(std::string(key.str()))) {
        throw ConfigError(fmt::format("unknown key '{}.{}'", name_, key.str()));
      }
    }
  }

  ConfigError error(std::string_view key, std::string_view what) const {
    return ConfigError(fmt::format("key '{}.{}' {}", name_, key, what));
  }

 private:
  const toml::node* find(std::string_view key) {
    used_.insert(std::string(key));
    if (table_ == nullptr) return nullptr;
    return table_->get(key);
  }

  const toml::table* table_;
  std::string name_;
  std::set<std::string> used_;
};

// A value that parse() checked against a range within int64_t, as a TOML integer.
template <typename T>
int64_t integer(T value) {
  return static_cast<int64_t>(value);
}

toml::array idArray(const std::vector<uint32_t>& ids) {
  toml::array array;
  for (uint32_t id : ids) array.push_back(int64_t{id});
  return array;
}

// [replication] (docs/replication.md): absent, the daemon is standalone.
void parseReplication(Section r, Config& c) {
  if (!r.present()) return;
  auto& o = c.replication;
  o.enabled = true;
  std::string mode, password = o.passwordFile.string(), creds = o.credsFile.string();
  std::string ca = o.tlsCaFile.string(), cert = o.tlsCertFile.string(), key = o.tlsKeyFile.string();
  r.string("mode", mode);
  r.strings("servers", o.servers);
  r.string("stream", o.stream);
  r.string("subject", o.subject);
  r.integer("replicas", o.replicas, 1, 5);
  r.string("name", o.name);
  r.string("user", o.user);
  r.string("password_file", password);
  r.string("creds_file", creds);
  r.boolean("tls", o.tls);
  r.string("tls_ca_file", ca);
  r.string("tls_cert_file", cert);
  r.string("tls_key_file", key);
  r.string("tls_server_name", o.tlsServerName);
  r.duration("connect_timeout_ms", o.connectTimeout, 100, 600000);
  r.duration("reconnect_wait_ms", o.reconnectWait, 10, 600000);
  r.duration("request_timeout_ms", o.requestTimeout, 100, 600000);
  r.duration("outcome_wait_ms", o.outcomeWait, 100, 3600000);
  r.duration("min_revision_wait_ms", o.minRevisionWait, 0, 600000);
  r.duration("duplicate_window_seconds", o.duplicateWindow, 1, 86400);
  r.finish();
  if (mode != "nats") throw r.error("mode", "must be \"nats\" (remove the section to run alone)");
  if (o.servers.empty()) throw r.error("servers", "must list at least one NATS server URL");
  for (const auto& server : o.servers) {
    if (server.empty() || server.find_first_of(" ,") != std::string::npos) {
      throw r.error("servers", fmt::format("'{}' is not a server URL", server));
    }
  }
  auto plainName = [](std::string_view name) {
    return !name.empty() && name.size() <= 64 &&
           name.find_first_of(" \t.*>/\\") == std::string_view::npos;
  };
  if (!plainName(o.stream)) {
    throw r.error("stream", "must be 1 to 64 characters without spaces, '.', '*', '>', '/'");
  }
  if (o.subject.empty() || o.subject.find_first_of(" \t*>") != std::string::npos) {
    throw r.error("subject", "must be a NATS subject without spaces or wildcards");
  }
  if (!o.name.empty() && !plainName(o.name)) {
    throw r.error("name", "must be 1 to 64 characters without spaces, '.', '*', '>', '/'");
  }
  if (!o.user.empty() && password.empty()) throw r.error("user", "needs password_file");
  if (o.user.empty() && !password.empty()) throw r.error("password_file", "needs user");
  if (!creds.empty() && !o.user.empty()) {
    throw r.error("creds_file", "and user are exclusive: use one way to authenticate");
  }
  if (cert.empty() != key.empty()) {
    throw r.error("tls_cert_file", "and tls_key_file go together");
  }
  if (o.outcomeWait >= o.duplicateWindow) {
    throw r.error("outcome_wait_ms",
                  "must be shorter than duplicate_window_seconds (a retried publish must be "
                  "recognised as the same batch)");
  }
  if (c.service.credentials.lastUsedFlush < std::chrono::seconds(60)) {
    throw ConfigError(
        "key 'credentials.last_used_flush_seconds' must be at least 60 with [replication] (each "
        "flush is a message of the replicated log)");
  }
  o.passwordFile = password;
  o.credsFile = creds;
  o.tlsCaFile = ca;
  o.tlsCertFile = cert;
  o.tlsKeyFile = key;
  c.store.replicated = true;
}

toml::table renderReplication(const replication::ReplicationOptions& o) {
  toml::array servers;
  for (const auto& s : o.servers) servers.push_back(s);
  return toml::table{{"mode", "nats"},
                     {"servers", servers},
                     {"stream", o.stream},
                     {"subject", o.subject},
                     {"replicas", integer(o.replicas)},
                     {"name", o.name},
                     {"user", o.user},
                     {"password_file", o.passwordFile.string()},
                     {"creds_file", o.credsFile.string()},
                     {"tls", o.tls},
                     {"tls_ca_file", o.tlsCaFile.string()},
                     {"tls_cert_file", o.tlsCertFile.string()},
                     {"tls_key_file", o.tlsKeyFile.string()},
                     {"tls_server_name", o.tlsServerName},
                     {"connect_timeout_ms", integer(o.connectTimeout.count())},
                     {"reconnect_wait_ms", integer(o.reconnectWait.count())},
                     {"request_timeout_ms", integer(o.requestTimeout.count())},
                     {"outcome_wait_ms", integer(o.outcomeWait.count())},
                     {"min_revision_wait_ms", integer(o.minRevisionWait.count())},
                     {"duplicate_window_seconds", integer(o.duplicateWindow.count())}};
}

}  // namespace

Config defaults() {
  Config c;
  c.server.socketPath = "/run/gatehouse/gatehouse.sock";
  c.store.directory = "/var/lib/gatehouse/data";
  c.pepperFile = "/etc/gatehouse/pepper";
  c.access.selfUid = static_cast<uint32_t>(::geteuid());
  return c;
}

Config parse(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError(
        fmt::format("{}:{}:{}: {}", origin, where.line, where.column, e.description()));
  }
  Config c = defaults();
  constexpr std::array<std::string_view, 9> kSections = {
      "daemon",      "store", "limits",           "writer",     "access",
      "credentials", "audit", "service_accounts", "replication"};
  for (const auto& [key, value] : root) {
    if (std::find(kSections.begin(), kSections.end(), key.str()) == kSections.end()) {
      throw ConfigError(fmt::format("unknown section or key '{}'", key.str()));
    }
    if (!value.is_table()) throw ConfigError(fmt::format("'{}' must be a table", key.str()));
  }
  auto table = [&](const char* name) { return root[name].as_table(); };

  Section daemon(table("daemon"), "daemon");
  std::string socket = c.server.socketPath.string(), data = c.store.directory.string();
  std::string mode = fmt::format("{:04o}", c.server.socketMode), level = "info";
  daemon.string("socket", socket);
  daemon.string("data_dir", data);
  daemon.string("socket_mode", mode);
  daemon.integer("io_threads", c.server.ioThreads, 0, 256);
  daemon.string("log_level", level);
  daemon.boolean("core_dumps", c.coreDumps);
  daemon.finish();
  if (socket.empty()) throw daemon.error("socket", "must not be empty");
  if (data.empty()) throw daemon.error("data_dir", "must not be empty");
  c.server.socketPath = socket;
  c.store.directory = data;
  size_t parsed = 0;
  unsigned long m = 0;
  try {
    m = std::stoul(mode, &parsed, 8);
  } catch (const std::exception&) {
    parsed = 0;
  }
  if (parsed != mode.size() || m > 0777) {
    throw daemon.error("socket_mode", "must be an octal mode such as \"0660\"");
  }
  c.server.socketMode = static_cast<uint32_t>(m);
  auto logLevel = parseLevel(level);
  if (!logLevel) throw daemon.error("log_level", "must be one of debug, info, warning, error");
  c.logLevel = *logLevel;

  Section store(table("store"), "store");
  uint64_t mapMib = c.store.initialMapSize >> 20, maxMapGib = c.store.maxMapSize >> 30;
  store.integer("map_size_mib", mapMib, 1, int64_t{1} << 20);
  store.integer("max_map_size_gib", maxMapGib, 1, int64_t{1} << 14);
  store.integer("max_readers", c.store.maxReaders, 8, 4096);
  store.boolean("durable", c.store.durable);
  store.integer("max_permissions", c.store.maxPermissions, 4096, 1 << 20);
  store.finish();
  c.store.initialMapSize = size_t{mapMib} << 20;
  c.store.maxMapSize = size_t{maxMapGib} << 30;
  if (c.store.maxMapSize < c.store.initialMapSize) {
    throw store.error("max_map_size_gib", "must not be smaller than store.map_size_mib");
  }

  Section limits(table("limits"), "limits");
  limits.integer("max_frame_bytes", c.server.frame.maxFrameBytes, 1024, int64_t{64} << 20);
  limits.integer("max_segments", c.server.frame.maxSegments, 1, 512);
  limits.integer("traversal_limit_words", c.server.traversalLimitWords, 1024, int64_t{1} << 30);
  limits.integer("nesting_limit", c.server.nestingLimit, 4, 64);
  limits.integer("max_in_flight", c.server.maxInFlight, 1, 65536);
  limits.integer("max_connections", c.server.maxConnections, 1, 1 << 20);
  limits.integer("max_pending_output_bytes", c.server.maxPendingOutput, 65536, int64_t{1} << 30);
  limits.integer("max_batch", c.service.maxBatch, 1, 65536);
  limits.integer("max_connections_per_uid", c.server.maxConnectionsPerUid, 1, 1 << 20);
  limits.integer("admin_reserved_connections", c.server.adminReservedConnections, 0, 1 << 20);
  int64_t idle = c.server.idleTimeout.count(), frame = c.server.frameTimeout.count(),
          send = c.server.sendTimeout.count();
  limits.integer("idle_timeout_seconds", idle, 0, int64_t{7} * 86400);
  limits.integer("frame_timeout_seconds", frame, 0, 3600);
  limits.integer("send_timeout_seconds", send, 0, 3600);
  limits.finish();
  c.server.idleTimeout = std::chrono::seconds(idle);
  c.server.frameTimeout = std::chrono::seconds(frame);
  c.server.sendTimeout = std::chrono::seconds(send);

  Section writer(table("writer"), "writer");
  writer.integer("group_commit_max", c.service.groupCommitMax, 1, 65536);
  writer.boolean("yield_to_readers", c.service.writerYields);
  writer.duration("commit_delay_ms", c.service.commitDelay, 0, 1000);
  writer.finish();

  Section access(table("access"), "access");
  std::string others = "check";
  access.ids("admin_uids", c.access.adminUids);
  access.ids("admin_gids", c.access.adminGids);
  access.ids("check_uids", c.access.checkUids);
  access.ids("check_gids", c.access.checkGids);
  access.string("others", others);
  access.finish();
  if (others == "check") {
    c.access.others = protocol::AccessClass::check;
  } else if (others == "none") {
    c.access.others = protocol::AccessClass::none;
  } else {
    throw access.error("others", "must be \"check\" or \"none\"");
  }
  Section creds(table("credentials"), "credentials");
  auto& cc = c.service.credentials;
  std::string pepper = c.pepperFile.string();
  uint64_t memMib = cc.password.memLimit >> 20;
  int64_t window = cc.rate.window.count(), backoff = cc.rate.backoff.count(),
          flush = cc.lastUsedFlush.count();
  creds.string("pepper_file", pepper);
  creds.integer("password_ops_limit", cc.password.opsLimit, 1, 64);
  creds.integer("password_mem_limit_mib", memMib, 8, 4096);
  creds.integer("password_threads", cc.passwordThreads, 1, 64);
  creds.integer("password_queue_max", cc.passwordQueue, 1, 65536);
  creds.integer("max_keys_per_account", cc.maxKeysPerAccount, 1, 50);
  creds.integer("rate_limit_failures", cc.rate.threshold, 1, 1000000);
  creds.integer("rate_limit_window_seconds", window, 1, 86400);
  creds.integer("rate_limit_backoff_seconds", backoff, 1, 86400);
  creds.integer("rate_limit_max_subjects", cc.rate.maxSubjects, 100, 100000000);
  creds.string("totp_issuer", cc.totpIssuer);
  creds.integer("last_used_flush_seconds", flush, 1, 86400);
  creds.integer("verified_key_cache_entries", cc.verifiedKeyCache, 0, 1 << 20);
  creds.finish();
  if (pepper.empty()) throw creds.error("pepper_file", "must not be empty");
  if (cc.totpIssuer.empty() || cc.totpIssuer.size() > 64) {
    throw creds.error("totp_issuer", "must be 1 to 64 bytes");
  }
  c.pepperFile = pepper;
  cc.password.memLimit = size_t{memMib} << 20;
  cc.rate.window = std::chrono::seconds(window);
  cc.rate.backoff = std::chrono::seconds(backoff);
  cc.lastUsedFlush = std::chrono::seconds(flush);
  auto inside = std::filesystem::weakly_canonical(c.pepperFile)
                    .lexically_relative(std::filesystem::weakly_canonical(c.store.directory));
  if (!inside.empty() && *inside.begin() != "..") {
    throw creds.error("pepper_file",
                      "must be outside daemon.data_dir (a copy of the data alone "
                      "must not be enough to test guessed keys)");
  }
  Section audit(table("audit"), "audit");
  int64_t retentionDays = c.service.auditRetention.count() / 86400;
  audit.integer("retention_days", retentionDays, 1, 36500);
  audit.finish();
  c.service.auditRetention = std::chrono::seconds(retentionDays * 86400);

  Section accounts(table("service_accounts"), "service_accounts");
  std::string sharing = "consent";
  accounts.string("sharing", sharing);
  accounts.finish();
  if (sharing != "consent" && sharing != "open") {
    throw accounts.error("sharing", "must be \"consent\" or \"open\"");
  }
  c.service.sharing = sharing == "open" ? service::Sharing::open : service::Sharing::consent;
  parseReplication(Section(table("replication"), "replication"), c);
  return c;
}

Config load(const std::optional<std::filesystem::path>& file) {
  if (!file) return defaults();
  std::ifstream in(*file);
  if (!in) throw ConfigError(fmt::format("cannot read config file {}", file->string()));
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), file->string());
}

std::string render(const Config& c) {
  const auto& cc = c.service.credentials;
  toml::table root{
      {"daemon", toml::table{{"socket", c.server.socketPath.string()},
                             {"socket_mode", fmt::format("{:04o}", c.server.socketMode)},
                             {"data_dir", c.store.directory.string()},
                             {"io_threads", integer(c.server.ioThreads)},
                             {"log_level", levelName(c.logLevel)},
                             {"core_dumps", c.coreDumps}}},
      {"store", toml::table{{"map_size_mib", integer(c.store.initialMapSize >> 20)},
                            {"max_map_size_gib", integer(c.store.maxMapSize >> 30)},
                            {"max_readers", integer(c.store.maxReaders)},
                            {"durable", c.store.durable},
                            {"max_permissions", integer(c.store.maxPermissions)}}},
      {"limits",
       toml::table{{"max_frame_bytes", integer(c.server.frame.maxFrameBytes)},
                   {"max_segments", integer(c.server.frame.maxSegments)},
                   {"traversal_limit_words", integer(c.server.traversalLimitWords)},
                   {"nesting_limit", integer(c.server.nestingLimit)},
                   {"max_in_flight", integer(c.server.maxInFlight)},
                   {"max_connections", integer(c.server.maxConnections)},
                   {"max_pending_output_bytes", integer(c.server.maxPendingOutput)},
                   {"max_connections_per_uid", integer(c.server.maxConnectionsPerUid)},
                   {"admin_reserved_connections", integer(c.server.adminReservedConnections)},
                   {"idle_timeout_seconds", integer(c.server.idleTimeout.count())},
                   {"frame_timeout_seconds", integer(c.server.frameTimeout.count())},
                   {"send_timeout_seconds", integer(c.server.sendTimeout.count())},
                   {"max_batch", integer(c.service.maxBatch)}}},
      {"writer", toml::table{{"group_commit_max", integer(c.service.groupCommitMax)},
                             {"yield_to_readers", c.service.writerYields},
                             {"commit_delay_ms", integer(c.service.commitDelay.count())}}},
      {"access",
       toml::table{{"admin_uids", idArray(c.access.adminUids)},
                   {"admin_gids", idArray(c.access.adminGids)},
                   {"check_uids", idArray(c.access.checkUids)},
                   {"check_gids", idArray(c.access.checkGids)},
                   {"others", c.access.others == protocol::AccessClass::check ? "check" : "none"}}},
      {"credentials", toml::table{{"pepper_file", c.pepperFile.string()},
                                  {"password_ops_limit", integer(cc.password.opsLimit)},
                                  {"password_mem_limit_mib", integer(cc.password.memLimit >> 20)},
                                  {"password_threads", integer(cc.passwordThreads)},
                                  {"password_queue_max", integer(cc.passwordQueue)},
                                  {"max_keys_per_account", integer(cc.maxKeysPerAccount)},
                                  {"rate_limit_failures", integer(cc.rate.threshold)},
                                  {"rate_limit_window_seconds", integer(cc.rate.window.count())},
                                  {"rate_limit_backoff_seconds", integer(cc.rate.backoff.count())},
                                  {"rate_limit_max_subjects", integer(cc.rate.maxSubjects)},
                                  {"totp_issuer", cc.totpIssuer},
                                  {"last_used_flush_seconds", integer(cc.lastUsedFlush.count())},
                                  {"verified_key_cache_entries", integer(cc.verifiedKeyCache)}}},
      {"audit", toml::table{{"retention_days", integer(c.service.auditRetention.count() / 86400)}}},
      {"service_accounts",
       toml::table{{"sharing", c.service.sharing == service::Sharing::open ? "open" : "consent"}}},
  };
  if (c.replication.enabled) root.insert("replication", renderReplication(c.replication));
  // Strings as basic strings ("0660", escaped), never literal or multi-line ones.
  std::ostringstream out;
  out << toml::toml_formatter(root, toml::format_flags::allow_unicode_strings) << "\n";
  return out.str();
}

namespace {

// A value as TOML text, for comparing two values of any type.
std::string valueText(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

}  // namespace

std::vector<std::string> changedKeys(const Config& before, const Config& after) {
  toml::table a = toml::parse(render(before)), b = toml::parse(render(after));
  std::vector<std::string> changed;
  auto compare = [&](const toml::table& x, const toml::table& y, bool both) {
    for (const auto& [section, node] : x) {
      const toml::table* xs = node.as_table();
      const toml::table* ys = y[section].as_table();
      if (xs == nullptr) continue;
      for (const auto& [key, value] : *xs) {
        std::string name = fmt::format("{}.{}", section.str(), key.str());
        const toml::node* other = ys != nullptr ? ys->get(key) : nullptr;
        if (other == nullptr || (both && valueText(*other) != valueText(value))) {
          changed.push_back(name);
        }
      }
    }
  };
  compare(a, b, true);   // changed, or gone from `after`
  compare(b, a, false);  // new in `after`
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  return changed;
}

void copyLive(Config& running, const Config& next) {
  running.logLevel = next.logLevel;
  running.access = next.access;
  auto& rate = running.service.credentials.rate;
  rate.threshold = next.service.credentials.rate.threshold;
  rate.window = next.service.credentials.rate.window;
  rate.backoff = next.service.credentials.rate.backoff;
  auto& s = running.server;
  s.maxConnections = next.server.maxConnections;
  s.maxConnectionsPerUid = next.server.maxConnectionsPerUid;
  s.adminReservedConnections = next.server.adminReservedConnections;
  s.idleTimeout = next.server.idleTimeout;
  s.frameTimeout = next.server.frameTimeout;
  s.sendTimeout = next.server.sendTimeout;
}

bool appliesLive(std::string_view key) {
  static constexpr std::string_view kLive[] = {
      "daemon.log_level",
      "credentials.rate_limit_failures",
      "credentials.rate_limit_window_seconds",
      "credentials.rate_limit_backoff_seconds",
      "limits.max_connections",
      "limits.max_connections_per_uid",
      "limits.admin_reserved_connections",
      "limits.idle_timeout_seconds",
      "limits.frame_timeout_seconds",
      "limits.send_timeout_seconds",
  };
  return key.starts_with("access.") ||
         std::find(std::begin(kLive), std::end(kLive), key) != std::end(kLive);
}

}  // namespace gatehouse::config
