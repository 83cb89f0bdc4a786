#include "json.hpp"

#include <fmt/format.h>

namespace gatehouse::cli {
namespace {

constexpr std::string_view kReplacementCharacter = "\\ufffd";

unsigned char byteAt(std::string_view s, size_t i) { return static_cast<unsigned char>(s[i]); }

// The length the lead byte announces (1 to 4), or 0 when it cannot start a sequence.
size_t announcedLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xC2) return 0;  // a continuation byte, or an overlong two-byte form
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF5) return 4;
  return 0;  // beyond U+10FFFF
}

// The length of the valid UTF-8 sequence at the start of `s` (not empty), or 0 when invalid.
// The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
size_t validSequenceLength(std::string_view s) {
  unsigned char lead = byteAt(s, 0);
  size_t length = announcedLength(lead);
  if (length == 0 || length > s.size()) return 0;
  unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
  unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
  for (size_t i = 1; i < length; ++i) {
    unsigned char b = byteAt(s, i);
    if (b < low || b > high) return 0;
    low = 0x80;
    high = 0xBF;
  }
  return length;
}

void appendAscii(char c, std::string& out) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) {
    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    return;
  }
  out += c;
}

}  // namespace

std::string jsonQuote(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  while (!text.empty()) {
    size_t length = validSequenceLength(text);
    if (length == 0) {
      out += kReplacementCharacter;
      text.remove_prefix(1);
      continue;
    }
    if (length == 1) {
      appendAscii(text.front(), out);
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
  out += '"';
  return out;
}

JsonObject& JsonObject::raw(std::string_view key, std::string_view json) {
  if (!body_.empty()) body_ += ',';
  body_ += jsonQuote(key);
  body_ += ':';
  body_ += json;
  return *this;
}

JsonObject& JsonObject::string(std::string_view key, std::string_view value) {
  return raw(key, jsonQuote(value));
}

JsonObject& JsonObject::number(std::string_view key, uint64_t value) {
  return raw(key, std::to_string(value));
}

JsonObject& JsonObject::signedNumber(std::string_view key, int64_t value) {
  return raw(key, std::to_string(value));
}

JsonObject& JsonObject::boolean(std::string_view key, bool value) {
  return raw(key, value ? "true" : "false");
}

JsonArray& JsonArray::raw(std::string_view json) {
  if (!body_.empty()) body_ += ',';
  body_ += json;
  return *this;
}

}  // namespace gatehouse::cli
