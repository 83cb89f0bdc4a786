// Hand-written JSON output for `gatehouse --json` (RFC 8259), with no JSON library.
//
// `jsonQuote` escapes quotes, backslashes and control characters, and replaces bytes that are not
// valid UTF-8 with U+FFFD, so the output is valid JSON whatever the daemon's names contain.
// JsonObject and JsonArray are values that accumulate already-encoded members; nothing is parsed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::cli {

// `text` as a JSON string literal, quotes included.
std::string jsonQuote(std::string_view text);

class JsonObject {
 public:
  // `json` must already be an encoded JSON value (a number, a quoted string, an object...).
  JsonObject& raw(std::string_view key, std::string_view json);
  JsonObject& string(std::string_view key, std::string_view value);
  JsonObject& number(std::string_view key, uint64_t value);
  JsonObject& signedNumber(std::string_view key, int64_t value);
  JsonObject& boolean(std::string_view key, bool value);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

class JsonArray {
 public:
  JsonArray& raw(std::string_view json);
  JsonArray& string(std::string_view value) { return raw(jsonQuote(value)); }
  JsonArray& number(uint64_t value) { return raw(std::to_string(value)); }
  std::string str() const { return "[" + body_ + "]"; }

 private:
  std::string body_;
};

}  // namespace gatehouse::cli
