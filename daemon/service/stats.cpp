// The stats request: every counter and gauge as metric families (docs/operations.md#metrics).
#include "service/stats.hpp"

#include <capnp/schema.h>

#include <string>
#include <utility>

#include "service/committer.hpp"
#include "service/credential_checker.hpp"
#include "service/io_state.hpp"
#include "service/requests.hpp"

namespace gatehouse::service {

std::shared_ptr<IoCounters> Counting::add(std::shared_ptr<const store::Snapshot::Counters> caches) {
  auto counters = std::make_shared<IoCounters>();
  counters->caches = std::move(caches);
  std::lock_guard lock(mutex_);
  threads_.push_back(counters);
  return counters;
}

Counting::Totals Counting::sum() const {
  Totals t;
  std::lock_guard lock(mutex_);
  for (const auto& c : threads_) {
    for (size_t i = 0; i < kDenyReasonSlots; ++i) t.checks[i] += c->checks[i].get();
    for (size_t i = 0; i < kRefusalSlots; ++i) t.credentials[i] += c->credentials[i].get();
    for (size_t i = 0; i < kRequestKindSlots; ++i) t.requests[i] += c->requests[i].get();
    t.verifiedKeys[0] += c->verifiedKeys.hits.get();
    t.verifiedKeys[1] += c->verifiedKeys.misses.get();
    t.rows[0] += c->caches->rows.hits.get();
    t.rows[1] += c->caches->rows.misses.get();
    t.names[0] += c->caches->names.hits.get();
    t.names[1] += c->caches->names.misses.get();
    t.flushes += c->caches->flushes.get();
  }
  return t;
}

protocol::TransportStats Counting::transport() const {
  const protocol::TransportStatsSource* source = transport_.load();
  return source != nullptr ? source->transportStats() : protocol::TransportStats{};
}

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string suffix;
  Labels labels;
  double value = 0;
};

struct Family {
  std::string name;
  std::string help;
  wire::MetricType type;
  std::vector<Sample> samples;
};

class Families {
 public:
  Family& add(std::string name, std::string help, wire::MetricType type) {
    families_.push_back(Family{std::move(name), std::move(help), type, {}});
    return families_.back();
  }
  void one(std::string name, std::string help, wire::MetricType type, double value) {
    add(std::move(name), std::move(help), type).samples.push_back(Sample{"", {}, value});
  }
  void write(wire::Stats::Builder stats) const {
    auto metrics = stats.initMetrics(static_cast<unsigned>(families_.size()));
    for (unsigned i = 0; i < families_.size(); ++i) {
      const Family& f = families_[i];
      auto m = metrics[i];
      m.setName(f.name);
      m.setHelp(f.help);
      m.setType(f.type);
      auto samples = m.initSamples(static_cast<unsigned>(f.samples.size()));
      for (unsigned j = 0; j < f.samples.size(); ++j) {
        const Sample& s = f.samples[j];
        samples[j].setSuffix(s.suffix);
        samples[j].setValue(s.value);
        auto labels = samples[j].initLabels(static_cast<unsigned>(s.labels.size()));
        for (unsigned k = 0; k < s.labels.size(); ++k) {
          labels[k].setName(s.labels[k].first);
          labels[k].setValue(s.labels[k].second);
        }
      }
    }
  }

 private:
  std::vector<Family> families_;
};

// The schema's names of an enum's values, by number.
template <typename Enum>
std::vector<std::string> enumerantNames() {
  std::vector<std::string> names;
  for (auto e : capnp::Schema::from<Enum>().getEnumerants()) {
    names.emplace_back(e.getProto().getName().cStr());
  }
  return names;
}

// The label that tells the first value of an outcome enum (`none`: allowed, accepted) from the
// others, and its two values.
struct Outcome {
  std::string label, none, other;
};

// One sample per value of `Enum` this build knows (at most `Slots`), labelled with the outcome
// and `reason` (the value's schema name), counting `count(value)`.
template <typename Enum, size_t Slots, typename Count>
void byReason(Family& family, const Outcome& outcome, Count count) {
  auto names = enumerantNames<Enum>();
  for (size_t i = 0; i < names.size() && i < Slots; ++i) {
    family.samples.push_back(
        Sample{"",
               {{outcome.label, i == 0 ? outcome.none : outcome.other}, {"reason", names[i]}},
               double(count(i))});
  }
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

void cacheFamilies(Families& out,
                   const std::vector<std::pair<std::string, std::array<uint64_t, 2>>>& caches) {
  auto& hits = out.add("gatehouse_cache_hits_total",
                       "Lookups answered by a per-IO-thread cache (row: effective permission "
                       "sets; name: permission names; verified_key: API keys verified in full, "
                       "until their account changes).",
                       wire::MetricType::COUNTER);
  auto& misses =
      out.add("gatehouse_cache_misses_total", "Lookups a per-IO-thread cache could not answer.",
              wire::MetricType::COUNTER);
  auto& ratio = out.add("gatehouse_cache_hit_ratio",
                        "Hits over lookups since the daemon started; 0 before the first lookup.",
                        wire::MetricType::GAUGE);
  for (const auto& [cache, counts] : caches) {
    Labels labels{{"cache", cache}};
    hits.samples.push_back(Sample{"", labels, double(counts[0])});
    misses.samples.push_back(Sample{"", labels, double(counts[1])});
    uint64_t lookups = counts[0] + counts[1];
    ratio.samples.push_back(Sample{"", labels, lookups ? double(counts[0]) / double(lookups) : 0});
  }
}

void writerFamilies(Families& out, const Committer::WriterStats& w,
                    std::chrono::steady_clock::time_point started,
                    std::chrono::steady_clock::time_point now) {
  out.one("gatehouse_mutations_committed_total", "Mutations the writer committed (kept changes).",
          wire::MetricType::COUNTER, double(w.committed));
  out.one("gatehouse_commit_failures_total",
          "Group transactions that could not be committed (every request in them was answered "
          "failed).",
          wire::MetricType::COUNTER, double(w.failedGroups));
  auto& groups = out.add("gatehouse_group_commit_size",
                         "Items (requests and the writer's bookkeeping) per committed group "
                         "transaction.",
                         wire::MetricType::HISTOGRAM);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < Committer::kGroupSizeBuckets; ++i) {
    cumulative += w.groupSizes[i];
    bool last = i + 1 == Committer::kGroupSizeBuckets;
    groups.samples.push_back(Sample{
        "_bucket", {{"le", last ? "+Inf" : std::to_string(size_t{1} << i)}}, double(cumulative)});
  }
  groups.samples.push_back(Sample{"_sum", {}, double(w.groupItems)});
  groups.samples.push_back(Sample{"_count", {}, double(w.groups)});
  out.one("gatehouse_writer_queue_depth", "Mutations waiting for the writer.",
          wire::MetricType::GAUGE, double(w.queued));
  out.one("gatehouse_writer_oldest_queued_seconds",
          "How long the oldest unanswered mutation has waited; 0 when none waits.",
          wire::MetricType::GAUGE, seconds(w.backlogAge));
  out.one("gatehouse_last_commit_age_seconds",
          "Seconds since the last group commit (since start-up when there was none).",
          wire::MetricType::GAUGE, seconds(now - w.lastCommit.value_or(started)));
}

void replicationFamilies(Families& out, const replication::Replicator::Status& r) {
  using wire::MetricType;
  auto& info = out.add("gatehouse_replication_info",
                       "Replicated mode: always 1; `server` is the NATS server connected to "
                       "(empty when none), `stopped` why this replica stopped following the log "
                       "(empty while it follows it).",
                       MetricType::GAUGE);
  info.samples.push_back(Sample{"", {{"server", r.server}, {"stopped", r.stopped}}, 1});
  out.one("gatehouse_replication_connected", "1 while connected to NATS, else 0.",
          MetricType::GAUGE, r.connected ? 1 : 0);
  out.one("gatehouse_replication_following",
          "1 while this replica follows the log (mutations possible), else 0.", MetricType::GAUGE,
          r.following ? 1 : 0);
  out.one("gatehouse_replication_applied_sequence",
          "The log's last entry applied here (the revision checks are answered at).",
          MetricType::GAUGE, double(r.applied));
  out.one("gatehouse_replication_head_sequence", "The log's last entry this replica has heard of.",
          MetricType::GAUGE, double(r.head));
  out.one("gatehouse_replication_lag_entries",
          "Entries of the log not yet applied here (head minus applied).", MetricType::GAUGE,
          double(r.head - r.applied));
  out.one("gatehouse_replication_published_total",
          "Batches this replica's writer published to the log.", MetricType::COUNTER,
          double(r.published));
  out.one("gatehouse_replication_conflicts_total",
          "Publishes refused because another replica wrote first (the batch was validated "
          "again).",
          MetricType::COUNTER, double(r.conflicts));
  out.one("gatehouse_replication_unknown_outcomes_total",
          "Batches whose fate was still unknown at the deadline (answered outcomeUnknown).",
          MetricType::COUNTER, double(r.unknownOutcomes));
}

}  // namespace

void answerStats(ServiceParts& parts, IoState&, wire::Request::Reader,
                 wire::Response::Builder response) {
  static_assert(kDenyReasonSlots >= 7 && kRefusalSlots >= 10);
  using wire::MetricType;
  auto now = std::chrono::steady_clock::now();
  Counting::Totals t = parts.counting.sum();
  Families out;

  auto& build =
      out.add("gatehouse_build_info", "The daemon's version; always 1.", MetricType::GAUGE);
  build.samples.push_back(Sample{"", {{"version", parts.options.version}}, 1});
  out.one("gatehouse_uptime_seconds", "Seconds since the daemon started.", MetricType::GAUGE,
          seconds(now - parts.started));
  store::Store::Usage usage = parts.store.usage();
  out.one("gatehouse_revision", "The store's last committed revision.", MetricType::GAUGE,
          double(usage.revision));

  byReason<wire::DenyReason, kDenyReasonSlots>(
      out.add("gatehouse_checks_total",
              "Permission checks answered (authorize, each authorizeBatch item, checkAccess with "
              "an accepted key), by decision and deny reason.",
              MetricType::COUNTER),
      {"decision", "allow", "deny"}, [&](size_t i) { return t.checks[i]; });
  const RefusalCounters& pool = parts.credentials.passwordOutcomes();
  byReason<wire::CredentialRefusal, kRefusalSlots>(
      out.add("gatehouse_credential_checks_total",
              "Credential checks answered (API keys, passwords), by result and refusal reason.",
              MetricType::COUNTER),
      {"result", "accepted", "refused"},
      [&](size_t i) { return t.credentials[i] + pool[i].get(); });

  auto& requests = out.add("gatehouse_requests_total",
                           "Requests received, by kind (the schema's name of the request).",
                           MetricType::COUNTER);
  for (auto field : capnp::Schema::from<wire::Request>().getUnionFields()) {
    auto slot = size_t{field.getProto().getDiscriminantValue()};
    if (slot >= kRequestKindSlots) continue;
    requests.samples.push_back(
        Sample{"", {{"kind", field.getProto().getName().cStr()}}, double(t.requests[slot])});
  }

  writerFamilies(out, parts.committer.stats(), parts.started, now);
  if (const auto* replicator = parts.committer.replicator()) {
    replicationFamilies(out, replicator->status());
  }
  cacheFamilies(out, {{"row", t.rows}, {"name", t.names}, {"verified_key", t.verifiedKeys}});
  out.one("gatehouse_cache_flushes_total",
          "Times an IO thread dropped its whole row cache because a commit could not say which "
          "rows it changed (it rewrote more than 256, or the thread was 512 commits behind).",
          MetricType::COUNTER, double(t.flushes));

  protocol::TransportStats transport = parts.counting.transport();
  out.one("gatehouse_connections_open", "Client connections open now.", MetricType::GAUGE,
          double(transport.connectionsOpen));
  out.one("gatehouse_connections_accepted_total", "Client connections accepted.",
          MetricType::COUNTER, double(transport.connectionsAccepted));
  out.one("gatehouse_connections_refused_total",
          "Client connections refused by the access policy or a connection limit.",
          MetricType::COUNTER, double(transport.connectionsRefused));
  out.one("gatehouse_framing_violations_total",
          "Connections closed for breaking the framing rules.", MetricType::COUNTER,
          double(transport.framingViolations));

  out.one("gatehouse_map_size_bytes",
          "The LMDB map's size: the most the data file may grow to "
          "before the map is grown again.",
          MetricType::GAUGE, double(usage.mapSize));
  out.one("gatehouse_map_used_bytes",
          "Bytes of the map in use, up to the last page written (free pages included).",
          MetricType::GAUGE, double(usage.usedPages) * double(usage.pageSize));
  out.one("gatehouse_map_used_pages", "Pages of the map in use, up to the last page written.",
          MetricType::GAUGE, double(usage.usedPages));

  out.write(response.initStats());
}

}  // namespace gatehouse::service
