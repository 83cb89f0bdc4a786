#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace gatehouse::load {
namespace {

constexpr unsigned kLinearBits = 8;  // values below 256 ns: one bucket each
constexpr uint64_t kLinear = uint64_t{1} << kLinearBits;
constexpr uint64_t kHalf = kLinear / 2;  // buckets per power of two above
constexpr unsigned kTopBits = 40;        // 2^40 ns and above share the last bucket
constexpr size_t kBuckets = kLinear + (kTopBits - kLinearBits) * kHalf;

}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

size_t Histogram::indexOf(uint64_t ns) {
  ns = std::min(ns, (uint64_t{1} << kTopBits) - 1);
  if (ns < kLinear) return ns;
  unsigned exponent = static_cast<unsigned>(std::bit_width(ns)) - 1;  // >= kLinearBits
  unsigned shift = exponent - (kLinearBits - 1);
  return kLinear + (exponent - kLinearBits) * kHalf + ((ns >> shift) - kHalf);
}

uint64_t Histogram::lowestOf(size_t index) {
  if (index < kLinear) return index;
  size_t above = index - kLinear;
  unsigned shift = static_cast<unsigned>(above / kHalf) + 1;
  return (kHalf + above % kHalf) << shift;
}

uint64_t Histogram::highestOf(size_t index) {
  if (index < kLinear) return index;
  if (index + 1 == kBuckets) return UINT64_MAX;
  return lowestOf(index + 1) - 1;
}

void Histogram::record(std::chrono::nanoseconds latency) {
  auto ns = static_cast<uint64_t>(std::max<int64_t>(latency.count(), 0));
  ++counts_[indexOf(ns)];
  ++count_;
  sum_ += ns;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::percentileNs(double fraction) const {
  if (count_ == 0) return 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(fraction * double(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(highestOf(i), minNs(), max_);
  }
  return max_;
}

std::vector<Histogram::Bucket> Histogram::buckets() const {
  std::vector<Bucket> out;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (counts_[i] == 0) continue;
    out.push_back({lowestOf(i), std::min(highestOf(i), max_), counts_[i]});
  }
  return out;
}

}  // namespace gatehouse::load
