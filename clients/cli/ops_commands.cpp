// The operator's commands: stats (a table, --json, or --prometheus for node_exporter's textfile
// collector) and backup (the daemon copies its store into a file the CLI opened).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "command.hpp"

namespace gatehouse::cli {
namespace {

struct StatsArguments {
  bool prometheus = false;
};

// 12, 0.25, 1e+20: integers without a fraction; others as short as they read back exactly.
std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

bool writeAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The exposition format's escapes: `quote` also escapes '"' (label values; HELP text does not).
std::string escaped(std::string_view text, bool quote) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string labelText(capnp::List<wire::Label>::Reader labels, bool prometheus) {
  std::string out;
  for (auto label : labels) {
    if (!out.empty()) out += ',';
    out += prometheus ? fmt::format("{}=\"{}\"", label.getName().cStr(),
                                    escaped(label.getValue().cStr(), true))
                      : fmt::format("{}={}", label.getName().cStr(), label.getValue().cStr());
  }
  return prometheus && !out.empty() ? "{" + out + "}" : out;
}

// The Prometheus text exposition format, version 0.0.4.
std::string prometheusText(wire::Stats::Reader stats) {
  std::string out;
  for (auto metric : stats.getMetrics()) {
    std::string name = metric.getName();
    out += fmt::format("# HELP {} {}\n", name, escaped(metric.getHelp().cStr(), false));
    out += fmt::format("# TYPE {} {}\n", name, enumName(metric.getType()));
    for (auto sample : metric.getSamples()) {
      out += fmt::format("{}{}{} {}\n", name, sample.getSuffix().cStr(),
                         labelText(sample.getLabels(), true), number(sample.getValue()));
    }
  }
  return out;
}

// One row per sample; samples of labelled families that are still zero are left out.
std::string statsTable(wire::Stats::Reader stats) {
  std::vector<std::vector<std::string>> rows{{"METRIC", "LABELS", "VALUE"}};
  for (auto metric : stats.getMetrics()) {
    bool histogram = metric.getType() == wire::MetricType::HISTOGRAM;
    for (auto sample : metric.getSamples()) {
      if (!histogram && sample.getLabels().size() > 0 && sample.getValue() == 0) continue;
      rows.push_back({std::string(metric.getName().cStr()) + sample.getSuffix().cStr(),
                      labelText(sample.getLabels(), false), number(sample.getValue())});
    }
  }
  return table(rows);
}

Json statsJson(wire::Stats::Reader stats) {
  Json metrics = Json::array();
  for (auto metric : stats.getMetrics()) {
    Json samples = Json::array();
    for (auto sample : metric.getSamples()) {
      Json labels = Json::object();
      for (auto label : sample.getLabels())
        labels[label.getName().cStr()] = label.getValue().cStr();
      Json s{{"labels", labels}, {"value", sample.getValue()}};
      if (sample.getSuffix().size() > 0) s["suffix"] = sample.getSuffix().cStr();
      samples.push_back(std::move(s));
    }
    metrics.push_back(Json{{"name", metric.getName().cStr()},
                           {"type", enumName(metric.getType())},
                           {"help", metric.getHelp().cStr()},
                           {"samples", std::move(samples)}});
  }
  return Json{{"metrics", std::move(metrics)}};
}

int stats(Context& context, const StatsArguments& args) {
  if (args.prometheus && context.out.json()) {
    throw CommandError(kUsageError, "--prometheus and --json exclude each other");
  }
  auto answer = [&] {
    try {
      return context.session.call(wire::Response::STATS,
                                  [](wire::Request::Builder request) { request.setStats(); });
    } catch (const CommandError& e) {
      if (e.code() != "unknownRequest") throw;
      throw CommandError("unknownRequest", "this gatehoused is too old to report stats");
    }
  }();
  auto s = answer->getStats();
  if (args.prometheus) {
    std::cout << prometheusText(s);
    return kExitOk;
  }
  std::string text = statsTable(s);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  context.out.print(text, statsJson(s));
  return kExitOk;
}

struct BackupArguments {
  std::string file;
};

// A file created for the backup: removed again unless kept.
class NewFile {
 public:
  explicit NewFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      throw CommandError(kUsageError,
                         fmt::format("cannot create {}: {}{}", path_, std::strerror(errno),
                                     errno == EEXIST ? " (a backup never overwrites)" : ""));
    }
  }
  ~NewFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!kept_) ::unlink(path_.c_str());
  }
  NewFile(const NewFile&) = delete;
  NewFile& operator=(const NewFile&) = delete;
  int fd() const { return fd_; }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool kept_ = false;
};

int backup(Context& context, const BackupArguments& args) {
  std::string metaPath = args.file + ".meta";
  NewFile file(args.file);
  NewFile meta(metaPath);
  auto answer = context.session.callWithDescriptor(
      wire::Response::BACKUP, file.fd(),
      [](wire::Request::Builder request) { request.setBackup(); });
  auto b = answer->getBackup();
  std::string daemonVersion = "unknown";
  try {
    auto hello = context.session.call(wire::Response::HELLO,
                                      [](wire::Request::Builder request) { request.setHello(); });
    daemonVersion = hello->getHello().getVersion().cStr();
  } catch (const CommandError&) {  // an older daemon: the meta file says "unknown"
  }
  std::string text =
      fmt::format("revision={}\nschema_version={}\nbytes={}\ndaemon_version={}\ncreated={}\n",
                  b.getRevision(), b.getSchemaVersion(), b.getBytes(), daemonVersion,
                  utcTime(static_cast<uint64_t>(std::time(nullptr))));
  if (!writeAll(meta.fd(), text) || ::fsync(meta.fd()) != 0) {
    throw CommandError("failed", fmt::format("writing {}: {}", metaPath, std::strerror(errno)));
  }
  file.keep();
  meta.keep();
  context.out.print(fmt::format("backup of revision {} (schema {}): {} bytes in {}",
                                b.getRevision(), b.getSchemaVersion(), b.getBytes(), args.file),
                    Json{{"file", args.file},
                         {"revision", b.getRevision()},
                         {"schemaVersion", b.getSchemaVersion()},
                         {"bytes", b.getBytes()},
                         {"meta", metaPath}});
  return kExitOk;
}

}  // namespace

void addOpsCommands(CLI::App& app, Action& chosen) {
  auto statsCommand = addCommand<StatsArguments>(
      app, "stats",
      "The daemon's counters and gauges: a table, --json, or --prometheus (the text exposition "
      "format, for node_exporter's textfile collector)",
      chosen, stats);
  statsCommand.app->add_flag(
      "--prometheus", statsCommand.args.prometheus,
      "Print the Prometheus text exposition format (every series, zeros included)");

  auto backupCommand = addCommand<BackupArguments>(
      app, "backup",
      "Copy the daemon's store, consistent and compacted, into FILE (created 0600, never "
      "overwritten) while it serves; FILE.meta records the revision. Restore with "
      "`gatehoused --restore FILE`",
      chosen, backup);
  backupCommand.app->add_option("FILE", backupCommand.args.file, "The backup file to create")
      ->required();
}

}  // namespace gatehouse::cli
