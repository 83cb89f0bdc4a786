#include "service/verified_keys.hpp"

#include <bit>
#include <cstring>

namespace gatehouse::service {

VerifiedKeys::VerifiedKeys(const credentials::SecretBytes& tagKey, size_t entries)
    : tagKey_(tagKey), entries_(entries == 0 ? 0 : std::bit_ceil(entries)) {}

VerifiedKeys::Tag VerifiedKeys::tag(std::string_view text) const {
  Tag t;
  crypto_shorthash_siphashx24(t.data(), reinterpret_cast<const unsigned char*>(text.data()),
                              text.size(), tagKey_.data());
  return t;
}

size_t VerifiedKeys::slot(const Tag& tag) const {
  uint64_t bits;
  std::memcpy(&bits, tag.data(), sizeof bits);
  return bits & (entries_.size() - 1);
}

const VerifiedKeys::Entry* VerifiedKeys::find(const Tag& tag, uint64_t revision) const {
  if (entries_.empty()) return nullptr;
  const Entry& e = entries_[slot(tag)];
  if (e.revision != revision || revision == 0) return nullptr;
  return crypto_verify_16(e.tag.data(), tag.data()) == 0 ? &e : nullptr;
}

void VerifiedKeys::remember(const Entry& entry) {
  if (!entries_.empty()) entries_[slot(entry.tag)] = entry;
}

}  // namespace gatehouse::service
