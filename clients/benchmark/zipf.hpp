// Draws from a Zipf distribution, as the benchmarks draw their lookups: a few hot items asked for
// most of the time, as a controller's requests are. A value type; draw from one thread at a time
// (the generator is the caller's).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace gatehouse::load {

// Draws indices in [0, n) with P(k) proportional to 1 / (k + 1)^s, by inverse CDF (n doubles of
// memory). s = 0 is the uniform distribution.
class Zipf {
 public:
  Zipf(size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (size_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(double(k + 1), s));
    for (auto& c : cdf_) c /= sum;
  }
  size_t operator()(std::mt19937_64& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
  }

 private:
  std::vector<double> cdf_;
};

}  // namespace gatehouse::load
