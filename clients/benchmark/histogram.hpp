// A latency histogram in the manner of HdrHistogram: log-linear buckets over nanoseconds, so that
// memory is fixed (about 35 KiB) whatever is recorded, and every value is known to within 1/128
// of itself (0.8%).
//
// Values below 256 ns have a bucket each. Above, each power of two [2^k, 2^(k+1)) is cut into 128
// buckets of equal width 2^(k-7). Values from 2^40 ns (about 18 minutes) up share the last
// bucket. The count, sum, minimum and maximum are kept exactly. A percentile is reported as the
// highest value of the bucket it falls in (never above the maximum), so it errs high, by at most
// the precision.
//
// A value type; not thread-safe: give each thread its own and merge them.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace gatehouse::load {

class Histogram {
 public:
  // The largest relative width of a bucket (1/128).
  static constexpr double kPrecision = 1.0 / 128;

  struct Bucket {
    uint64_t lowestNs;
    uint64_t highestNs;  // inclusive
    uint64_t count;
  };

  Histogram();

  void record(std::chrono::nanoseconds latency);
  void merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t minNs() const { return count_ == 0 ? 0 : min_; }
  uint64_t maxNs() const { return max_; }
  double meanNs() const { return count_ == 0 ? 0 : double(sum_) / double(count_); }
  // The value at or below which a `fraction` (0 to 1) of the values fall; 0 when empty.
  uint64_t percentileNs(double fraction) const;
  // The buckets that hold values, ascending.
  std::vector<Bucket> buckets() const;

 private:
  static size_t indexOf(uint64_t ns);
  static uint64_t lowestOf(size_t index);
  static uint64_t highestOf(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace gatehouse::load
