// The latency histogram (histogram.hpp): percentiles within its precision of the exact ones,
// exact count, minimum, maximum and mean, bounded buckets, merging, and values beyond its range.
#define BOOST_TEST_MODULE benchmark_load
#include "histogram.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

using gatehouse::load::Histogram;
using std::chrono::nanoseconds;

namespace {

// The exact value at `fraction` of sorted `values`, as the histogram defines it: the smallest
// value with at least ceil(fraction * n) values at or below it.
uint64_t exactPercentile(std::vector<uint64_t> values, double fraction) {
  std::sort(values.begin(), values.end());
  auto rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(fraction * double(values.size()))));
  return values[rank - 1];
}

}  // namespace

BOOST_AUTO_TEST_CASE(percentiles_are_within_the_precision_of_the_exact_ones) {
  std::mt19937_64 rng(7);
  // Log-normal latencies around 20 us with a long tail, as a daemon's are.
  std::lognormal_distribution<double> latency(std::log(20000.0), 0.8);
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    auto ns = static_cast<uint64_t>(latency(rng));
    values.push_back(ns);
    h.record(nanoseconds(ns));
  }
  for (double fraction : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    uint64_t exact = exactPercentile(values, fraction);
    uint64_t reported = h.percentileNs(fraction);
    BOOST_TEST(reported >= exact, fraction);
    BOOST_TEST(double(reported - exact) <= double(exact) * Histogram::kPrecision, fraction);
  }
  BOOST_TEST(h.count() == values.size());
  BOOST_TEST(h.minNs() == *std::min_element(values.begin(), values.end()));
  BOOST_TEST(h.maxNs() == *std::max_element(values.begin(), values.end()));
  double sum = 0;
  for (uint64_t v : values) sum += double(v);
  BOOST_TEST(h.meanNs() == sum / double(values.size()), boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(buckets_are_ordered_count_everything_and_stay_few) {
  Histogram h;
  for (uint64_t ns = 0; ns < 5000000; ns += 7) h.record(nanoseconds(ns));
  auto buckets = h.buckets();
  uint64_t total = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const auto& b = buckets[i];
    total += b.count;
    BOOST_TEST(b.lowestNs <= b.highestNs);
    if (i > 0) BOOST_TEST(b.lowestNs > buckets[i - 1].highestNs);
    // No bucket is wider than the precision allows (those below 256 ns hold one value each).
    BOOST_TEST(double(b.highestNs - b.lowestNs) <=
               std::max(0.0, double(b.lowestNs) * Histogram::kPrecision));
  }
  BOOST_TEST(total == h.count());
  // 5 ms is under 2^23 ns: 256 single-value buckets and 128 for each power of two above.
  BOOST_TEST(buckets.size() <= 256u + (23u - 8u) * 128u);
}

BOOST_AUTO_TEST_CASE(small_values_are_exact) {
  Histogram h;
  for (uint64_t ns : {0u, 1u, 17u, 255u}) h.record(nanoseconds(ns));
  BOOST_TEST(h.percentileNs(0.25) == 0u);
  BOOST_TEST(h.percentileNs(0.5) == 1u);
  BOOST_TEST(h.percentileNs(0.75) == 17u);
  BOOST_TEST(h.percentileNs(1.0) == 255u);
}

BOOST_AUTO_TEST_CASE(merging_is_recording_into_one) {
  Histogram a, b, both;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i) {
    auto ns = nanoseconds(rng() % 10000000);
    (i % 3 == 0 ? a : b).record(ns);
    both.record(ns);
  }
  a.merge(b);
  BOOST_TEST(a.count() == both.count());
  BOOST_TEST(a.minNs() == both.minNs());
  BOOST_TEST(a.maxNs() == both.maxNs());
  for (double fraction : {0.1, 0.5, 0.99}) {
    BOOST_TEST(a.percentileNs(fraction) == both.percentileNs(fraction));
  }
  auto merged = a.buckets(), recorded = both.buckets();
  BOOST_REQUIRE_EQUAL(merged.size(), recorded.size());
  for (size_t i = 0; i < merged.size(); ++i) BOOST_TEST(merged[i].count == recorded[i].count);
}

BOOST_AUTO_TEST_CASE(values_beyond_the_range_share_the_last_bucket_and_keep_their_maximum) {
  Histogram h;
  h.record(nanoseconds(1000));
  h.record(std::chrono::hours(2));  // beyond 2^40 ns
  h.record(nanoseconds(-5));        // a clock that went backwards counts as 0
  BOOST_TEST(h.count() == 3u);
  BOOST_TEST(h.minNs() == 0u);
  BOOST_TEST(h.maxNs() == uint64_t(std::chrono::nanoseconds(std::chrono::hours(2)).count()));
  BOOST_TEST(h.percentileNs(1.0) == h.maxNs());
  BOOST_TEST(h.buckets().back().highestNs == h.maxNs());
}

BOOST_AUTO_TEST_CASE(an_empty_histogram_reports_zeros) {
  Histogram h;
  BOOST_TEST(h.count() == 0u);
  BOOST_TEST(h.minNs() == 0u);
  BOOST_TEST(h.maxNs() == 0u);
  BOOST_TEST(h.meanNs() == 0.0);
  BOOST_TEST(h.percentileNs(0.5) == 0u);
  BOOST_TEST(h.buckets().empty());
}
