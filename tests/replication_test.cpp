// What replication relies on from NATS JetStream, against a real loopback cluster
// (nats_cluster.hpp) through nats.c: appends that only land on the expected last sequence, Msg-Id
// deduplication, and a replicated stream that keeps every message through the loss of its leader.
#define BOOST_TEST_MODULE replication
#include <nats/nats.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "nats_cluster.hpp"

using namespace gatehouse::testing;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kStream = "GATEHOUSE";
constexpr const char* kSubject = "gatehouse.log";
constexpr int64_t kPublishWaitMs = 2000;

// Tears nats.c down after the last test, once every test has destroyed its objects.
struct NatsLibrary {
  ~NatsLibrary() {
    natsStatus status = nats_CloseAndWait(5000);
    if (status != NATS_OK) {
      std::fprintf(stderr, "nats_CloseAndWait: %s\n", natsStatus_GetText(status));
    }
  }
};
BOOST_GLOBAL_FIXTURE(NatsLibrary);

template <typename T, void (*destroy)(T*)>
struct Destroy {
  void operator()(T* object) const { destroy(object); }
};
using Options = std::unique_ptr<natsOptions, Destroy<natsOptions, natsOptions_Destroy>>;
using Connection = std::unique_ptr<natsConnection, Destroy<natsConnection, natsConnection_Destroy>>;
using JetStream = std::unique_ptr<jsCtx, Destroy<jsCtx, jsCtx_Destroy>>;
using StreamInfo = std::unique_ptr<jsStreamInfo, Destroy<jsStreamInfo, jsStreamInfo_Destroy>>;
using PubAck = std::unique_ptr<jsPubAck, Destroy<jsPubAck, jsPubAck_Destroy>>;
using Message = std::unique_ptr<natsMsg, Destroy<natsMsg, natsMsg_Destroy>>;

// A failed call, as nats.c describes it: the status, the JetStream error code, and this thread's
// last error text when it is about this status (nats.c leaves the text of an earlier failure in
// place when it returns NATS_NO_RESPONDERS).
std::string failure(natsStatus status, int errCode = 0) {
  std::ostringstream text;
  text << natsStatus_GetText(status) << " (natsStatus " << status << ", jsErrCode " << errCode
       << ")";
  natsStatus lastStatus = NATS_OK;
  const char* detail = nats_GetLastError(&lastStatus);
  if (lastStatus == status && detail != nullptr) text << ": " << detail;
  return text.str();
}

#define REQUIRE_NATS_OK(call)                                                         \
  do {                                                                                \
    natsStatus status_ = (call);                                                      \
    BOOST_REQUIRE_MESSAGE(status_ == NATS_OK, #call " failed: " << failure(status_)); \
  } while (false)

struct Client {
  Options options;
  Connection connection;
  JetStream js;
};

// Connected to every node, reconnecting forever, quickly.
Client connect(const std::vector<std::string>& urls) {
  Client client;
  natsOptions* options = nullptr;
  REQUIRE_NATS_OK(natsOptions_Create(&options));
  client.options.reset(options);
  std::vector<const char*> servers;
  servers.reserve(urls.size());
  for (const auto& url : urls) servers.push_back(url.c_str());
  REQUIRE_NATS_OK(
      natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size())));
  REQUIRE_NATS_OK(natsOptions_SetMaxReconnect(options, -1));
  REQUIRE_NATS_OK(natsOptions_SetReconnectWait(options, 100));
  natsConnection* connection = nullptr;
  REQUIRE_NATS_OK(natsConnection_Connect(&connection, options));
  client.connection.reset(connection);
  jsCtx* js = nullptr;
  REQUIRE_NATS_OK(natsConnection_JetStream(&js, connection, nullptr));
  client.js.reset(js);
  return client;
}

// The log's stream as replication creates it: replicated, on disk, never edited.
StreamInfo createStream(jsCtx* js, int replicas) {
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const char* subjects[] = {kSubject};
  config.Name = kStream;
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = replicas;
  config.DenyDelete = true;
  config.DenyPurge = true;
  jsStreamInfo* info = nullptr;
  jsErrCode errCode = static_cast<jsErrCode>(0);
  natsStatus status = js_AddStream(&info, js, &config, nullptr, &errCode);
  BOOST_REQUIRE_MESSAGE(status == NATS_OK, "js_AddStream: " << failure(status, errCode));
  return StreamInfo(info);
}

StreamInfo streamInfo(jsCtx* js) {
  jsStreamInfo* info = nullptr;
  jsErrCode errCode = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info, js, kStream, nullptr, &errCode);
  BOOST_REQUIRE_MESSAGE(status == NATS_OK, "js_GetStreamInfo: " << failure(status, errCode));
  return StreamInfo(info);
}

struct Entry {
  std::string id;  // Nats-Msg-Id
  std::string payload;
};

struct Outcome {
  natsStatus status = NATS_OK;
  int errCode = 0;
  std::string error;  // failure(), when status is not NATS_OK
  PubAck ack;
};

// Appends `entry` to the log when its last sequence is `expectedLast` (0: the log is empty).
Outcome publish(jsCtx* js, const Entry& entry, uint64_t expectedLast) {
  natsMsg* raw = nullptr;
  REQUIRE_NATS_OK(natsMsg_Create(&raw, kSubject, nullptr, entry.payload.data(),
                                 static_cast<int>(entry.payload.size())));
  Message message(raw);
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MaxWait = kPublishWaitMs;
  options.MsgId = entry.id.c_str();
  options.ExpectStream = kStream;
  options.ExpectLastSeq = expectedLast;
  // nats.c sends ExpectLastSeq only when it is above 0: "the log is empty" goes in by hand.
  if (expectedLast == 0) {
    REQUIRE_NATS_OK(natsMsgHeader_Set(message.get(), "Nats-Expected-Last-Sequence", "0"));
  }
  jsPubAck* ack = nullptr;
  jsErrCode errCode = static_cast<jsErrCode>(0);
  Outcome outcome;
  outcome.status = js_PublishMsg(&ack, js, message.get(), &options, &errCode);
  outcome.errCode = errCode;
  outcome.ack.reset(ack);
  if (outcome.status != NATS_OK) outcome.error = failure(outcome.status, errCode);
  return outcome;
}

std::string describe(const Outcome& outcome) {
  if (outcome.status != NATS_OK) return outcome.error;
  return "appended as seq " + std::to_string(outcome.ack->Sequence) +
         (outcome.ack->Duplicate ? " (duplicate)" : "");
}

// publish() again with the same Msg-Id while the answer is "no stream leader" (no responders) or
// none at all (timeout), until `deadline`; logs the first answer of each kind and how many there
// were. Returns the first other outcome, or the last one at the deadline.
Outcome publishRetrying(jsCtx* js, const Entry& entry, uint64_t expectedLast,
                        milliseconds deadline) {
  auto start = Clock::now();
  std::map<std::pair<natsStatus, int>, int> retried;
  for (;;) {
    Outcome outcome = publish(js, entry, expectedLast);
    auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    bool transient = outcome.status == NATS_NO_RESPONDERS || outcome.status == NATS_TIMEOUT;
    if (transient && retried[{outcome.status, outcome.errCode}]++ == 0) {
      BOOST_TEST_MESSAGE(entry.id << " at " << elapsed.count() << " ms: " << outcome.error);
    }
    if (!transient || elapsed >= deadline) {
      std::ostringstream summary;
      for (const auto& [kind, count] : retried) {
        summary << " " << count << "x " << natsStatus_GetText(kind.first) << "/jsErrCode "
                << kind.second;
      }
      BOOST_TEST_MESSAGE(entry.id << " answered after " << elapsed.count() << " ms; retried:"
                                  << (retried.empty() ? " none" : summary.str()));
      return outcome;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

// Requires that `entry` was appended, as `sequence`.
void requireAppended(const Outcome& outcome, uint64_t sequence, bool duplicateAllowed = false) {
  BOOST_REQUIRE_MESSAGE(outcome.status == NATS_OK,
                        "publishing seq " << sequence << ": " << outcome.error);
  BOOST_REQUIRE(outcome.ack != nullptr);
  BOOST_TEST(std::string_view(outcome.ack->Stream) == kStream);
  BOOST_REQUIRE_EQUAL(outcome.ack->Sequence, sequence);
  if (!duplicateAllowed) BOOST_TEST(!outcome.ack->Duplicate);
}

// Whether the stream's leader is `name` or counts it as a current replica, within `deadline` (the
// leader learns a follower caught up from its next answer, up to a heartbeat later).
bool currentReplica(jsCtx* js, std::string_view name, milliseconds deadline) {
  auto until = Clock::now() + deadline;
  for (;;) {
    StreamInfo info = streamInfo(js);
    const jsClusterInfo* cluster = info->Cluster;
    BOOST_REQUIRE(cluster != nullptr);
    if (cluster->Leader != nullptr && name == cluster->Leader) return true;
    for (int i = 0; i < cluster->ReplicasLen; ++i) {
      const jsPeerInfo* peer = cluster->Replicas[i];
      if (name == peer->Name && peer->Current && !peer->Offline) return true;
    }
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

size_t nodeNamed(const NatsCluster& cluster, std::string_view name) {
  for (size_t i = 0; i < cluster.size(); ++i) {
    if (cluster.name(i) == name) return i;
  }
  BOOST_FAIL("no node named " << name);
  return 0;
}

long long msSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_three_node_cluster_keeps_a_stream_through_one_node_lost) {
  auto start = Clock::now();
  NatsCluster cluster(3);
  BOOST_TEST_MESSAGE("cluster healthy after " << msSince(start) << " ms");
  Client client = connect(cluster.urls());
  jsCtx* js = client.js.get();
  char connectedUrl[128] = "";
  natsConnection_GetConnectedUrl(client.connection.get(), connectedUrl, sizeof connectedUrl);

  auto step = Clock::now();
  StreamInfo created = createStream(js, 3);
  BOOST_TEST(created->Config->Replicas == 3);
  BOOST_TEST(created->Config->DenyDelete);
  BOOST_TEST(created->Config->DenyPurge);
  BOOST_TEST_MESSAGE("stream created after " << msSince(step) << " ms");

  std::vector<Entry> entries;
  for (int i = 1; i <= 5; ++i) {
    entries.push_back({"gh-test-" + std::to_string(i), "batch " + std::to_string(i) + " payload"});
  }
  const milliseconds deadline(30000);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    requireAppended(publishRetrying(js, entries[seq - 1], seq - 1, deadline), seq);
  }

  // Compare-and-set: an append on a stale head is refused, and says so with its own code.
  Outcome stale = publish(js, {"gh-test-stale", "stale"}, 2);
  BOOST_TEST(stale.status == NATS_ERR, describe(stale));
  BOOST_TEST(stale.errCode == JSStreamWrongLastSequenceErr, describe(stale));
  BOOST_TEST(stale.error.find("wrong last sequence: 3") != std::string::npos, describe(stale));
  // ... including on the empty log's "0", which nats.c would not have sent by itself.
  Outcome genesis = publish(js, {"gh-test-genesis", "second genesis"}, 0);
  BOOST_TEST(genesis.errCode == JSStreamWrongLastSequenceErr, describe(genesis));

  // A retry of an appended entry is recognised by its Msg-Id: the original sequence, not a copy.
  Outcome again = publish(js, entries[1], 1);
  BOOST_REQUIRE_MESSAGE(again.status == NATS_OK, describe(again));
  BOOST_TEST(again.ack->Duplicate);
  BOOST_TEST(again.ack->Sequence == 2u);

  StreamInfo before = streamInfo(js);
  BOOST_REQUIRE(before->Cluster != nullptr && before->Cluster->Leader != nullptr);
  BOOST_TEST(before->Cluster->ReplicasLen == 2);
  BOOST_TEST(before->State.LastSeq == 3u);
  size_t leader = nodeNamed(cluster, before->Cluster->Leader);
  BOOST_TEST_MESSAGE("client on " << connectedUrl << ", stream leader " << cluster.name(leader)
                                  << " at " << cluster.url(leader));

  // The leader dies: appends wait for an election, then land where they should.
  step = Clock::now();
  cluster.kill(leader);
  BOOST_TEST(!cluster.running(leader));
  Outcome afterLoss = publishRetrying(js, entries[3], 3, deadline);
  requireAppended(afterLoss, 4,
                  /*duplicateAllowed: a timed-out attempt may have been stored*/ true);
  BOOST_TEST_MESSAGE("appended after the leader's loss in "
                     << msSince(step) << " ms" << (afterLoss.ack->Duplicate ? ", duplicate" : ""));
  requireAppended(publishRetrying(js, entries[4], 4, deadline), 5);
  StreamInfo during = streamInfo(js);
  BOOST_REQUIRE(during->Cluster != nullptr && during->Cluster->Leader != nullptr);
  BOOST_TEST(std::string_view(during->Cluster->Leader) != cluster.name(leader));

  // It comes back with its store and catches up.
  step = Clock::now();
  cluster.start(leader);
  cluster.waitHealthy(leader, deadline, /*full=*/true);
  BOOST_TEST_MESSAGE(cluster.name(leader) << " current again after " << msSince(step) << " ms");

  BOOST_TEST(currentReplica(js, cluster.name(leader), std::chrono::seconds(10)));
  StreamInfo after = streamInfo(js);
  BOOST_TEST(after->State.Msgs == 5u);
  BOOST_TEST(after->State.FirstSeq == 1u);
  BOOST_TEST(after->State.LastSeq == 5u);
  for (uint64_t seq = 1; seq <= entries.size(); ++seq) {
    natsMsg* raw = nullptr;
    jsErrCode errCode = static_cast<jsErrCode>(0);
    natsStatus status = js_GetMsg(&raw, js, kStream, seq, nullptr, &errCode);
    BOOST_REQUIRE_MESSAGE(status == NATS_OK,
                          "js_GetMsg " << seq << ": " << failure(status, errCode));
    Message message(raw);
    const Entry& entry = entries[seq - 1];
    BOOST_TEST(natsMsg_GetSequence(message.get()) == seq);
    BOOST_TEST(std::string_view(natsMsg_GetSubject(message.get())) == kSubject);
    BOOST_TEST(std::string_view(natsMsg_GetData(message.get()),
                                static_cast<size_t>(natsMsg_GetDataLength(message.get()))) ==
               entry.payload);
    const char* id = nullptr;
    REQUIRE_NATS_OK(natsMsgHeader_Get(message.get(), "Nats-Msg-Id", &id));
    BOOST_TEST(std::string_view(id) == entry.id);
    const char* expectedLast = nullptr;
    REQUIRE_NATS_OK(natsMsgHeader_Get(message.get(), "Nats-Expected-Last-Sequence", &expectedLast));
    BOOST_TEST(std::string_view(expectedLast) == std::to_string(seq - 1));
  }
  natsMsg* none = nullptr;
  jsErrCode errCode = static_cast<jsErrCode>(0);
  natsStatus status = js_GetMsg(&none, js, kStream, entries.size() + 1, nullptr, &errCode);
  Message noneOwned(none);
  BOOST_TEST(status == NATS_NOT_FOUND, failure(status, errCode));
  BOOST_TEST(errCode == JSNoMessageFoundErr);
  BOOST_TEST_MESSAGE("whole test " << msSince(start) << " ms");
}
