// A fixed-size, zero-initialised array of trivially copyable values in anonymous memory, aligned to
// 2 MiB and advised to use transparent huge pages, so that a multi-megabyte cache costs a handful
// of TLB entries instead of thousands (a TLB miss under nested paging costs as much as the cache
// miss it hides). A resource: move-only.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace gatehouse::store {

template <typename T>
class HugeArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  static constexpr size_t kHugePage = size_t{2} << 20;

  explicit HugeArray(size_t count) : count_(count) {
    size_t bytes = count * sizeof(T);
    mapped_ = bytes + kHugePage;
    void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = p;
    auto address = reinterpret_cast<uintptr_t>(p);
    size_t skip = ((address + kHugePage - 1) & ~(kHugePage - 1)) - address;
    data_ = reinterpret_cast<T*>(static_cast<char*>(p) + skip);
    ::madvise(data_, bytes, MADV_HUGEPAGE);  // advice only: fine if refused
  }
  HugeArray(HugeArray&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)),
        data_(std::exchange(o.data_, nullptr)),
        count_(o.count_),
        mapped_(o.mapped_) {}
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  HugeArray& operator=(HugeArray&&) = delete;
  ~HugeArray() {
    if (base_ != nullptr) ::munmap(base_, mapped_);
  }

  T& operator[](size_t i) { return data_[i]; }
  T* data() { return data_; }
  size_t size() const { return count_; }

 private:
  void* base_ = nullptr;
  T* data_ = nullptr;
  size_t count_ = 0;
  size_t mapped_ = 0;
};

}  // namespace gatehouse::store
