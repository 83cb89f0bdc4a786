#define BOOST_TEST_MODULE config
#include "config/config.hpp"

#include <boost/test/unit_test.hpp>

using namespace gatehouse;
using config::ConfigError;

namespace {

// Asserts that parsing fails with a message containing `needle`.
void refused(std::string_view toml, std::string_view needle) {
  try {
    config::parse(toml, "test.toml");
    BOOST_ERROR("accepted: " << toml);
  } catch (const ConfigError& e) {
    BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos,
               "message '" << e.what() << "' lacks '" << needle << "'");
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(empty_file_gives_the_embedded_defaults) {
  auto c = config::parse("", "test.toml");
  BOOST_TEST(c.server.socketPath == "/run/gatehouse/gatehouse.sock");
  BOOST_TEST(c.store.directory == "/var/lib/gatehouse/data");
  BOOST_TEST(c.pepperFile == "/etc/gatehouse/pepper");
  BOOST_TEST(c.server.frame.maxFrameBytes == 1u << 20);
  BOOST_TEST(c.server.maxInFlight == 128u);
  BOOST_TEST(c.store.durable);
  BOOST_TEST(c.service.commitDelay.count() == 0);  // commits at once
  BOOST_TEST(c.server.sendTimeout.count() == 30);
}

BOOST_AUTO_TEST_CASE(every_section_is_read) {
  auto c = config::parse(R"(
[daemon]
socket = "/run/gatehouse/gatehouse.sock"
socket_mode = "0600"
data_dir = "/var/lib/gatehouse"
io_threads = 3
log_level = "warning"
[store]
map_size_mib = 64
max_map_size_gib = 2
durable = false
[limits]
max_frame_bytes = 65536
max_segments = 8
max_in_flight = 16
max_connections = 10
max_batch = 100
send_timeout_seconds = 5
[writer]
group_commit_max = 32
yield_to_readers = false
commit_delay_ms = 2
[access]
admin_uids = [0, 998]
check_gids = [120]
others = "none"
)",
                         "test.toml");
  BOOST_TEST(c.server.socketPath == "/run/gatehouse/gatehouse.sock");
  BOOST_TEST(c.server.socketMode == 0600u);
  BOOST_TEST(c.server.ioThreads == 3u);
  BOOST_TEST((c.logLevel == Level::warning));
  BOOST_TEST(c.store.initialMapSize == size_t{64} << 20);
  BOOST_TEST(!c.store.durable);
  BOOST_TEST(c.server.frame.maxSegments == 8u);
  BOOST_TEST(c.service.maxBatch == 100u);
  BOOST_TEST(c.server.sendTimeout.count() == 5);
  BOOST_TEST(c.service.groupCommitMax == 32u);
  BOOST_TEST(!c.service.writerYields);
  BOOST_TEST(c.service.commitDelay.count() == 2);
  BOOST_TEST(c.access.adminUids.size() == 2u);
  BOOST_TEST((c.access.classify(998, 5) == protocol::AccessClass::admin));
  BOOST_TEST((c.access.classify(5, 120) == protocol::AccessClass::check));
  BOOST_TEST((c.access.classify(5, 5) == protocol::AccessClass::none));
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_sections_are_refused_by_name) {
  refused("[daemon]\nsokcet = \"x\"\n", "daemon.sokcet");
  refused("[deamon]\n", "deamon");
  refused("top = 1\n", "top");
}

BOOST_AUTO_TEST_CASE(bad_values_are_refused_by_key) {
  refused("[daemon]\nio_threads = \"two\"\n", "daemon.io_threads");
  refused("[daemon]\nio_threads = -1\n", "daemon.io_threads");
  refused("[daemon]\nsocket_mode = \"999\"\n", "daemon.socket_mode");
  refused("[daemon]\nlog_level = \"loud\"\n", "daemon.log_level");
  refused("[limits]\nmax_frame_bytes = 10\n", "limits.max_frame_bytes");
  refused("[store]\ndurable = 1\n", "store.durable");
  refused("[limits]\nsend_timeout_seconds = 3601\n", "limits.send_timeout_seconds");
  refused("[limits]\nsend_timeout_seconds = -1\n", "limits.send_timeout_seconds");
  refused("[writer]\nyield_to_readers = \"yes\"\n", "writer.yield_to_readers");
  refused("[writer]\ncommit_delay_ms = 1001\n", "writer.commit_delay_ms");
  refused("[writer]\ncommit_delay_ms = -1\n", "writer.commit_delay_ms");
  refused("[writer]\ncommit_delay_ms = 1.5\n", "writer.commit_delay_ms");
  refused("[store]\nmap_size_mib = 4096\nmax_map_size_gib = 1\n", "store.max_map_size_gib");
  refused("[access]\nadmin_uids = [\"root\"]\n", "access.admin_uids");
  refused("[access]\nothers = \"admin\"\n", "access.others");
  refused("[daemon\n", "test.toml:1");
}

BOOST_AUTO_TEST_CASE(rendered_config_parses_back_to_the_same) {
  auto c = config::parse("[limits]\nmax_batch = 77\n[access]\nadmin_gids = [4]\n", "a.toml");
  auto again = config::parse(config::render(c), "b.toml");
  BOOST_TEST(again.service.maxBatch == 77u);
  BOOST_TEST(again.access.adminGids == std::vector<uint32_t>{4});
  BOOST_TEST(config::render(again) == config::render(c));
}

BOOST_AUTO_TEST_CASE(rendered_strings_with_quotes_backslashes_and_newlines_parse_back) {
  auto c = config::defaults();
  c.pepperFile = "/etc/gh/\"quoted\" \\ back\nslash";
  c.service.credentials.totpIssuer = "Acme \"Gate\"\\\n\tcaf\u00e9";
  auto again = config::parse(config::render(c), "b.toml");
  BOOST_TEST(again.pepperFile == c.pepperFile);
  BOOST_TEST(again.service.credentials.totpIssuer == c.service.credentials.totpIssuer);
  BOOST_TEST(config::render(again) == config::render(c));
}

BOOST_AUTO_TEST_CASE(credentials_section_is_read_and_checked) {
  auto c = config::parse(
      "[credentials]\npepper_file = \"/etc/gh/pepper\"\npassword_threads = 2\n"
      "rate_limit_failures = 5\nrate_limit_backoff_seconds = 60\npassword_mem_limit_mib = 32\n",
      "test.toml");
  BOOST_TEST(c.pepperFile == "/etc/gh/pepper");
  BOOST_TEST(c.service.credentials.passwordThreads == 2u);
  BOOST_TEST(c.service.credentials.rate.threshold == 5u);
  BOOST_TEST(c.service.credentials.rate.backoff.count() == 60);
  BOOST_TEST(c.service.credentials.password.memLimit == size_t{32} << 20);
  refused("[credentials]\npepper_file = \"/var/lib/gatehouse/data/pepper\"\n",
          "outside daemon.data_dir");
  refused("[credentials]\npasword_threads = 1\n", "credentials.pasword_threads");
  refused("[credentials]\nmax_keys_per_account = 0\n", "credentials.max_keys_per_account");
  refused("[credentials]\nverified_key_cache_entries = 2000000\n",
          "credentials.verified_key_cache_entries");
}

BOOST_AUTO_TEST_CASE(audit_retention_is_configurable) {
  auto c = config::parse("[audit]\nretention_days = 30\n", "test.toml");
  BOOST_TEST(c.service.auditRetention.count() == 30 * 86400);
  refused("[audit]\nretention_days = 0\n", "audit.retention_days");
  auto again = config::parse(config::render(c), "b.toml");
  BOOST_TEST(again.service.auditRetention.count() == 30 * 86400);
}

BOOST_AUTO_TEST_CASE(service_account_sharing_defaults_to_consent) {
  BOOST_TEST((config::parse("", "a.toml").service.sharing == service::Sharing::consent));
  auto open = config::parse("[service_accounts]\nsharing = \"open\"\n", "test.toml");
  BOOST_TEST((open.service.sharing == service::Sharing::open));
  BOOST_TEST(
      (config::parse(config::render(open), "b.toml").service.sharing == service::Sharing::open));
  refused("[service_accounts]\nsharing = \"anyone\"\n", "service_accounts.sharing");
  refused("[service_accounts]\nshare = \"open\"\n", "service_accounts.share");
}

// What a reload compares and applies: changed keys by name, and which of them apply live.
BOOST_AUTO_TEST_CASE(changed_keys_and_what_applies_live) {
  auto before = config::parse("", "a.toml");
  auto after = config::parse(
      "[daemon]\nio_threads = 3\n[access]\nadmin_uids = [7]\n"
      "[credentials]\nrate_limit_failures = 4\n[limits]\nsend_timeout_seconds = 3\n",
      "b.toml");
  auto changed = config::changedKeys(before, after);
  BOOST_TEST(
      changed == (std::vector<std::string>{"access.admin_uids", "credentials.rate_limit_failures",
                                           "daemon.io_threads", "limits.send_timeout_seconds"}),
      boost::test_tools::per_element());
  BOOST_TEST(config::changedKeys(before, before).empty());
  BOOST_TEST(config::appliesLive("access.admin_uids"));
  BOOST_TEST(config::appliesLive("credentials.rate_limit_failures"));
  BOOST_TEST(config::appliesLive("limits.send_timeout_seconds"));
  BOOST_TEST(!config::appliesLive("daemon.io_threads"));
  BOOST_TEST(!config::appliesLive("daemon.socket"));
  config::copyLive(before, after);
  BOOST_TEST(before.service.credentials.rate.threshold == 4u);
  BOOST_TEST(before.access.adminUids == std::vector<uint32_t>{7});
  BOOST_TEST(before.server.sendTimeout.count() == 3);
  BOOST_TEST(before.server.ioThreads == 0u);  // needs a restart: not copied
}

BOOST_AUTO_TEST_CASE(without_a_replication_section_the_daemon_is_standalone) {
  auto c = config::parse("", "empty.toml");
  BOOST_TEST(!c.replication.enabled);
  BOOST_TEST(!c.store.replicated);
  BOOST_TEST(config::render(c).find("replication") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(replication_section_is_read_checked_and_rendered) {
  auto c = config::parse(
      "[replication]\nmode = \"nats\"\nservers = [\"nats://10.0.0.1:4222\", "
      "\"nats://10.0.0.2:4222\"]\nstream = \"GH\"\nsubject = \"gh.log\"\nreplicas = 5\n"
      "name = \"host-a\"\nuser = \"gatehouse\"\npassword_file = \"/etc/gatehouse/nats.pw\"\n"
      "tls_ca_file = \"/etc/ca.pem\"\ntls_server_name = \"nats.example\"\n"
      "outcome_wait_ms = 5000\nmin_revision_wait_ms = 250\nduplicate_window_seconds = 60\n",
      "r.toml");
  const auto& r = c.replication;
  BOOST_TEST(r.enabled);
  BOOST_TEST(c.store.replicated);
  BOOST_TEST(r.servers.size() == 2u);
  BOOST_TEST(r.stream == "GH");
  BOOST_TEST(r.subject == "gh.log");
  BOOST_TEST(r.replicas == 5);
  BOOST_TEST(r.name == "host-a");
  BOOST_TEST(r.passwordFile == "/etc/gatehouse/nats.pw");
  BOOST_TEST(r.tlsCaFile == "/etc/ca.pem");
  BOOST_TEST(r.outcomeWait.count() == 5000);
  BOOST_TEST(r.minRevisionWait.count() == 250);
  BOOST_TEST(r.duplicateWindow.count() == 60);
  auto again = config::parse(config::render(c), "again.toml");
  BOOST_TEST(config::render(again) == config::render(c));
  BOOST_TEST(again.replication.servers == r.servers);
}

BOOST_AUTO_TEST_CASE(bad_replication_settings_are_refused_by_key) {
  const std::string servers = "servers = [\"nats://127.0.0.1:4222\"]\n";
  refused("[replication]\n" + servers, "replication.mode");
  refused("[replication]\nmode = \"raft\"\n" + servers, "replication.mode");
  refused("[replication]\nmode = \"nats\"\n", "replication.servers");
  refused("[replication]\nmode = \"nats\"\nservers = []\n", "replication.servers");
  refused("[replication]\nmode = \"nats\"\nservers = [1]\n", "replication.servers");
  refused("[replication]\nmode = \"nats\"\n" + servers + "stream = \"a.b\"\n",
          "replication.stream");
  refused("[replication]\nmode = \"nats\"\n" + servers + "subject = \"log.*\"\n",
          "replication.subject");
  refused("[replication]\nmode = \"nats\"\n" + servers + "replicas = 7\n", "replication.replicas");
  refused("[replication]\nmode = \"nats\"\n" + servers + "user = \"u\"\n", "replication.user");
  refused("[replication]\nmode = \"nats\"\n" + servers + "password_file = \"/p\"\n",
          "replication.password_file");
  refused("[replication]\nmode = \"nats\"\n" + servers +
              "user = \"u\"\npassword_file = \"/p\"\ncreds_file = \"/c\"\n",
          "replication.creds_file");
  refused("[replication]\nmode = \"nats\"\n" + servers + "tls_cert_file = \"/c.pem\"\n",
          "replication.tls_cert_file");
  refused("[replication]\nmode = \"nats\"\n" + servers +
              "outcome_wait_ms = 200000\nduplicate_window_seconds = 120\n",
          "replication.outcome_wait_ms");
  refused("[replication]\nmode = \"nats\"\n" + servers + "strem = \"x\"\n", "replication.strem");
  refused("[credentials]\nlast_used_flush_seconds = 5\n[replication]\nmode = \"nats\"\n" + servers,
          "credentials.last_used_flush_seconds");
}
