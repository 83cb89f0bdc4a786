#include "protocol/plain_authorize.hpp"

#include <capnp/message.h>
#include <capnp/schema.h>

#include <bit>
#include <cstring>
#include <stdexcept>

#include "protocol/framing.hpp"

namespace gatehouse::protocol {
namespace {

static_assert(std::endian::native == std::endian::little,
              "Cap'n Proto's encoding is little-endian: the fields are read and patched in place");

using Type = capnp::schema::Type;
constexpr size_t kWord = sizeof(capnp::word);

// The field `name` of `schema`: a slot of type `type` whose default is zero (the encoding then
// holds the value itself). Its offset, in units of the type's size (bits for a Bool).
uint32_t zeroDefaultSlot(capnp::StructSchema schema, const char* name, Type::Which type) {
  auto field = schema.getFieldByName(name);
  auto proto = field.getProto();
  if (!proto.isSlot()) throw std::logic_error(std::string(name) + " is not a slot");
  auto slot = proto.getSlot();
  if (slot.getType().which() != type) throw std::logic_error(std::string(name) + ": another type");
  auto value = slot.getDefaultValue();
  bool zero = true;
  switch (type) {
    case Type::UINT64:
      zero = value.getUint64() == 0;
      break;
    case Type::BOOL:
      zero = !value.getBool();
      break;
    case Type::ENUM:
      zero = value.getEnum() == 0;
      break;
    case Type::TEXT:
      zero = !value.hasText() || value.getText().size() == 0;
      break;
    default:
      break;  // a struct's default is a null pointer
  }
  if (!zero) throw std::logic_error(std::string(name) + " has a default other than zero");
  return slot.getOffset();
}

uint16_t discriminantOf(capnp::StructSchema schema, const char* name) {
  auto proto = schema.getFieldByName(name).getProto();
  if (proto.getDiscriminantValue() == capnp::schema::Field::NO_DISCRIMINANT) {
    throw std::logic_error(std::string(name) + " is not a union member");
  }
  return proto.getDiscriminantValue();
}

// A struct in one segment: word indexes of its data and pointer sections.
struct StructRef {
  size_t data = 0;
  size_t dataWords = 0;
  size_t pointers = 0;
  size_t pointerCount = 0;
};

class Segment {
 public:
  Segment(const char* bytes, size_t words) : bytes_(bytes), words_(words) {}

  size_t words() const { return words_; }

  uint64_t word(size_t index) const {
    uint64_t v;
    std::memcpy(&v, bytes_ + index * kWord, sizeof v);
    return v;
  }

  // The struct the pointer at word `at` points to, when it is a struct pointer (not null, not
  // far) whose struct lies within the segment, as the reader's bounds check requires.
  std::optional<StructRef> structAt(size_t at) const {
    uint64_t p = word(at);
    if (p == 0 || (p & 3) != 0) return std::nullopt;
    int64_t target = static_cast<int64_t>(at) + 1 + offsetOf(p);
    size_t dataWords = (p >> 32) & 0xffff;
    size_t pointerCount = p >> 48;
    if (target < 0 || static_cast<uint64_t>(target) + dataWords + pointerCount > words_) {
      return std::nullopt;
    }
    auto start = static_cast<size_t>(target);
    return StructRef{start, dataWords, start + dataWords, pointerCount};
  }

  // The struct's `index`th pointer as a struct; nullopt when it is past the pointer section.
  std::optional<StructRef> structField(const StructRef& s, uint32_t index) const {
    if (index >= s.pointerCount) return std::nullopt;
    return structAt(s.pointers + index);
  }

  // The struct's `index`th pointer as Text: a list of bytes within the segment (whole words, as
  // the reader checks) ending in a NUL; nullopt otherwise (a null pointer included).
  std::optional<std::string_view> textField(const StructRef& s, uint32_t index) const {
    if (index >= s.pointerCount) return std::nullopt;
    size_t at = s.pointers + index;
    uint64_t p = word(at);
    constexpr uint64_t kListPointer = 1, kByteElements = 2;
    if ((p & 3) != kListPointer || ((p >> 32) & 7) != kByteElements) return std::nullopt;
    int64_t target = static_cast<int64_t>(at) + 1 + offsetOf(p);
    size_t count = p >> 35;
    size_t words = (count + kWord - 1) / kWord;
    if (count == 0 || target < 0 || static_cast<uint64_t>(target) + words > words_) {
      return std::nullopt;
    }
    const char* text = bytes_ + static_cast<size_t>(target) * kWord;
    if (text[count - 1] != '\0') return std::nullopt;
    return std::string_view(text, count - 1);
  }

  // A data field at byte `offset` of the struct, or zero when the data section ends before it
  // (a struct written by an older schema).
  template <typename T>
  T dataField(const StructRef& s, uint32_t offset) const {
    if (offset + sizeof(T) > s.dataWords * kWord) return 0;
    T v;
    std::memcpy(&v, bytes_ + s.data * kWord + offset, sizeof v);
    return v;
  }

 private:
  // A pointer's signed offset in words: bits 2..31.
  static int64_t offsetOf(uint64_t pointer) {
    return static_cast<int32_t>(static_cast<uint32_t>(pointer)) >> 2;
  }

  const char* bytes_;
  size_t words_;
};

// The one segment of `frame` (segment table and segment), or nullopt.
std::optional<Segment> onlySegment(kj::ArrayPtr<const capnp::word> frame) {
  if (frame.size() < 2) return std::nullopt;
  const char* bytes = reinterpret_cast<const char*>(frame.begin());
  uint32_t segmentsMinusOne, size;
  std::memcpy(&segmentsMinusOne, bytes, 4);
  std::memcpy(&size, bytes + 4, 4);
  if (segmentsMinusOne != 0 || size != frame.size() - 1) return std::nullopt;
  return Segment(bytes + kWord, size);
}

}  // namespace

PlainAuthorizeCodec::PlainAuthorizeCodec() {
  try {
    auto request = capnp::Schema::from<wire::Request>();
    auto query = capnp::Schema::from<wire::AuthorizeQuery>();
    auto response = capnp::Schema::from<wire::Response>();
    auto decision = capnp::Schema::from<wire::Decision>();

    request_.idByte = zeroDefaultSlot(request, "id", Type::UINT64) * 8;
    request_.minRevisionByte = zeroDefaultSlot(request, "minRevision", Type::UINT64) * 8;
    if (request.getProto().getStruct().getDiscriminantCount() == 0) {
      throw std::logic_error("Request has no union");
    }
    request_.discriminantByte = request.getProto().getStruct().getDiscriminantOffset() * 2;
    request_.authorizeDiscriminant = discriminantOf(request, "authorize");
    request_.authorizePointer = zeroDefaultSlot(request, "authorize", Type::STRUCT);
    request_.principalByte = zeroDefaultSlot(query, "principal", Type::UINT64) * 8;
    request_.companyByte = zeroDefaultSlot(query, "company", Type::UINT64) * 8;
    request_.permissionPointer = zeroDefaultSlot(query, "permission", Type::TEXT);

    // The answer as the builder writes it, every field zero, and where each field lies in it.
    capnp::MallocMessageBuilder builder;
    builder.initRoot<wire::Response>().initAuthorize();
    appendFrame(builder, answerTemplate_);
    auto frame = kj::arrayPtr(reinterpret_cast<const capnp::word*>(answerTemplate_.data()),
                              answerTemplate_.size() / kWord);
    auto segment = onlySegment(frame);
    if (!segment) throw std::logic_error("the answer is not one segment");
    auto root = segment->structAt(0);
    if (!root) throw std::logic_error("the answer has no root");
    auto fields = segment->structField(*root, zeroDefaultSlot(response, "authorize", Type::STRUCT));
    if (!fields) throw std::logic_error("the answer has no decision");
    auto byteOf = [](const StructRef& s) { return kWord + s.data * kWord; };  // after the table
    answer_.idByte = byteOf(*root) + size_t{zeroDefaultSlot(response, "id", Type::UINT64)} * 8;
    uint32_t allowedBit = zeroDefaultSlot(decision, "allowed", Type::BOOL);
    answer_.allowedByte = byteOf(*fields) + allowedBit / 8;
    answer_.allowedMask = static_cast<uint8_t>(1u << (allowedBit % 8));
    answer_.reasonByte =
        byteOf(*fields) + size_t{zeroDefaultSlot(decision, "reason", Type::ENUM)} * 2;
    answer_.revisionByte =
        byteOf(*fields) + size_t{zeroDefaultSlot(decision, "revision", Type::UINT64)} * 8;
    size_t end = byteOf(*fields) + fields->dataWords * kWord;
    if (answer_.revisionByte + 8 > end || answer_.reasonByte + 2 > end ||
        answer_.allowedByte >= end ||
        answer_.idByte + 8 > byteOf(*root) + root->dataWords * kWord) {
      throw std::logic_error("a field of the answer lies outside its struct");
    }
    enabled_ = true;
  } catch (const std::exception&) {
    enabled_ = false;  // the schema is not what the shortcut reads: every frame takes the reader
  } catch (const kj::Exception&) {
    enabled_ = false;
  }
}

std::optional<PlainAuthorize> PlainAuthorizeCodec::decode(
    kj::ArrayPtr<const capnp::word> frame) const {
  if (!enabled_) return std::nullopt;
  auto segment = onlySegment(frame);
  if (!segment) return std::nullopt;
  auto root = segment->structAt(0);
  if (!root) return std::nullopt;
  if (segment->dataField<uint16_t>(*root, request_.discriminantByte) !=
          request_.authorizeDiscriminant ||
      segment->dataField<uint64_t>(*root, request_.minRevisionByte) != 0) {
    return std::nullopt;
  }
  auto query = segment->structField(*root, request_.authorizePointer);
  if (!query) return std::nullopt;
  auto permission = segment->textField(*query, request_.permissionPointer);
  if (!permission) return std::nullopt;
  PlainAuthorize q;
  q.id = segment->dataField<uint64_t>(*root, request_.idByte);
  q.principal = segment->dataField<uint64_t>(*query, request_.principalByte);
  q.company = segment->dataField<uint64_t>(*query, request_.companyByte);
  q.permission = *permission;
  return q;
}

void PlainAuthorizeCodec::appendDecision(uint64_t id, bool allowed, wire::DenyReason reason,
                                         uint64_t revision, std::string& out) const {
  size_t start = out.size();
  out.append(answerTemplate_);
  char* frame = out.data() + start;
  std::memcpy(frame + answer_.idByte, &id, sizeof id);
  if (allowed)
    frame[answer_.allowedByte] =
        static_cast<char>(frame[answer_.allowedByte] | answer_.allowedMask);
  auto code = static_cast<uint16_t>(reason);
  std::memcpy(frame + answer_.reasonByte, &code, sizeof code);
  std::memcpy(frame + answer_.revisionByte, &revision, sizeof revision);
}

}  // namespace gatehouse::protocol
