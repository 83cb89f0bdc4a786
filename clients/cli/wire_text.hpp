// Conversions between the CLI's strings and Cap'n Proto text: argument strings into request
// builders, answer text into views, JSON arrays and joined lines. The views returned are valid as
// long as the answer they were read from.
#pragma once

#include <capnp/list.h>
#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"

namespace gatehouse::cli {

// `s` as Cap'n Proto text; valid as long as `s` is.
inline capnp::Text::Reader toText(const std::string& s) { return {s.c_str(), s.size()}; }

inline std::string_view view(capnp::Text::Reader text) { return {text.begin(), text.size()}; }
inline std::string_view view(const std::string& text) { return text; }

inline void setTexts(capnp::List<capnp::Text>::Builder list,
                     const std::vector<std::string>& texts) {
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, toText(texts[i]));
}

inline void setIds(capnp::List<uint64_t>::Builder list, const std::vector<uint64_t>& ids) {
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, ids[i]);
}

inline Json jsonStrings(capnp::List<capnp::Text>::Reader texts) {
  Json array = Json::array();
  for (auto text : texts) array.emplace_back(view(text));
  return array;
}

inline Json jsonNumbers(capnp::List<uint64_t>::Reader numbers) {
  Json array = Json::array();
  for (uint64_t n : numbers) array.emplace_back(n);
  return array;
}

// The elements of a container (numbers or strings) separated by `separator`.
template <typename Container>
std::string joined(const Container& elements, std::string_view separator) {
  return fmt::to_string(fmt::join(elements, separator));
}

// The same for Cap'n Proto lists, copied first: their iterators have no value_type, which
// fmt::join needs.
inline std::string joined(capnp::List<capnp::Text>::Reader texts, std::string_view separator) {
  std::vector<std::string_view> views;
  views.reserve(texts.size());
  for (auto text : texts) views.push_back(view(text));
  return joined(views, separator);
}

inline std::string joined(capnp::List<uint64_t>::Reader numbers, std::string_view separator) {
  std::vector<uint64_t> values;
  values.reserve(numbers.size());
  for (uint64_t n : numbers) values.push_back(n);
  return joined(values, separator);
}

// `joined` for people: "(none)" when there are no elements.
template <typename List>
std::string listText(const List& elements, std::string_view separator) {
  if (elements.size() == 0) return "(none)";
  return joined(elements, separator);
}

}  // namespace gatehouse::cli
