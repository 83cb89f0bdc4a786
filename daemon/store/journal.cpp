#include "store/journal.hpp"

#include <fmt/format.h>

#include <cstring>
#include <iterator>

#include "store/codec.hpp"
#include "store/lmdb.hpp"

namespace gatehouse::store {
namespace {

constexpr uint8_t kFormat = 1;
enum class Op : uint8_t { put = 1, del = 2, delValue = 3 };

// The batch's fixed header: "GHB", the format, the schema version.
constexpr std::string_view kMagic = "GHB";

}  // namespace

CorruptBatch::CorruptBatch(std::string_view why)
    : std::runtime_error(fmt::format("replicated batch refused: {}", why)) {}

Journal::Journal(const Tables& tables) {
  for (size_t i = 0; i < std::size(kTableSpecs); ++i) {
    MDB_dbi dbi = tables.*kTableSpecs[i].member;
    if (dbi >= indexOfDbi_.size()) throw std::logic_error("journal: table handle out of range");
    indexOfDbi_[dbi] = static_cast<uint8_t>(i + 1);
  }
}

uint8_t Journal::tableIndex(MDB_dbi dbi) const {
  if (dbi >= indexOfDbi_.size() || indexOfDbi_[dbi] == 0) {
    throw std::logic_error(fmt::format("journal: a write to table handle {}, not ours", dbi));
  }
  return static_cast<uint8_t>(indexOfDbi_[dbi] - 1);
}

namespace {

void appendU32(std::string& out, size_t n) {
  auto v = static_cast<uint32_t>(n);
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace

void Journal::put(MDB_dbi dbi, std::string_view key, std::string_view value) {
  ops_.push_back(static_cast<char>(Op::put));
  ops_.push_back(static_cast<char>(tableIndex(dbi)));
  appendU32(ops_, key.size());
  ops_.append(key);
  appendU32(ops_, value.size());
  ops_.append(value);
}

void Journal::del(MDB_dbi dbi, std::string_view key, const std::string_view* value) {
  ops_.push_back(static_cast<char>(value != nullptr ? Op::delValue : Op::del));
  ops_.push_back(static_cast<char>(tableIndex(dbi)));
  appendU32(ops_, key.size());
  ops_.append(key);
  if (value == nullptr) return;
  appendU32(ops_, value->size());
  ops_.append(*value);
}

std::string encodeBatch(uint32_t schemaVersion, const ChangeSet& changes, std::string_view ops) {
  Encoder e;
  for (char c : kMagic) e.u8(static_cast<uint8_t>(c));
  e.u8(kFormat).u32(schemaVersion);
  uint8_t flags =
      (changes.allRows ? 1 : 0) | (changes.allPrincipals ? 2 : 0) | (changes.catalog ? 4 : 0);
  e.u8(flags).u32(static_cast<uint32_t>(changes.rows.size()));
  for (uint64_t row : changes.rows) e.u64(row);
  e.u32(static_cast<uint32_t>(changes.principals.size()));
  for (PrincipalId p : changes.principals) e.u64(p);
  e.u64(ops.size());
  std::string out = e.bytes();
  out.append(ops);
  return out;
}

ChangeSet applyBatch(Txn& txn, const Tables& tables, uint32_t schemaVersion,
                     std::string_view batch) {
  try {
    Decoder d(batch, "batch");
    for (char c : kMagic) {
      if (d.u8() != static_cast<uint8_t>(c)) throw CorruptBatch("not a gatehouse batch");
    }
    if (uint8_t format = d.u8(); format != kFormat) {
      throw CorruptBatch(
          fmt::format("format {} is not known to this build (expects {})", format, kFormat));
    }
    if (uint32_t v = d.u32(); v != schemaVersion) {
      throw CorruptBatch(fmt::format(
          "written by a store of schema version {}, this one is {}: run one version everywhere", v,
          schemaVersion));
    }
    ChangeSet changes;
    uint8_t flags = d.u8();
    if ((flags & ~7) != 0) throw CorruptBatch("unknown change flags");
    changes.allRows = (flags & 1) != 0;
    changes.allPrincipals = (flags & 2) != 0;
    changes.catalog = (flags & 4) != 0;
    uint32_t rows = d.u32();
    if (rows > ChangeSet::kMaxRows) throw CorruptBatch("too many changed rows listed");
    for (uint32_t i = 0; i < rows; ++i) changes.rows.push_back(d.u64());
    uint32_t principals = d.u32();
    if (principals > ChangeSet::kMaxPrincipals) {
      throw CorruptBatch("too many changed principals listed");
    }
    for (uint32_t i = 0; i < principals; ++i) changes.principals.push_back(d.u64());
    uint64_t length = d.u64();
    if (length != d.remaining()) throw CorruptBatch("truncated");
    while (!d.atEnd()) {
      auto op = static_cast<Op>(d.u8());
      uint8_t table = d.u8();
      if (table >= std::size(kTableSpecs))
        throw CorruptBatch(fmt::format("unknown table {}", table));
      MDB_dbi dbi = tables.*kTableSpecs[table].member;
      std::string_view key = d.str();
      switch (op) {
        case Op::put:
          txn.put(dbi, key, d.str());
          break;
        case Op::del:
          if (!txn.del(dbi, key)) throw CorruptBatch("a delete of a key this store lacks");
          break;
        case Op::delValue: {
          std::string_view value = d.str();
          if (!txn.del(dbi, key, &value)) {
            throw CorruptBatch("a delete of a value this store lacks");
          }
          break;
        }
        default:
          throw CorruptBatch(fmt::format("unknown operation {}", static_cast<int>(op)));
      }
    }
    return changes;
  } catch (const CorruptRecord&) {
    throw CorruptBatch("truncated");
  }
}

}  // namespace gatehouse::store
