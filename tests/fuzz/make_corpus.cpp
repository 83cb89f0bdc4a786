// Writes the fuzzing seed corpus: one file per request kind of the schema, each a framed
// Request whose union member is set (structs and lists empty, text "seed"), so every handler is
// reached from the first run. Run by scripts/fuzz when tests/fuzz/corpus is missing a kind.
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <string>

#include "gatehouse.capnp.h"
#include "protocol/framing.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus DIRECTORY\n";
    return 2;
  }
  using namespace gatehouse;
  auto schema = capnp::Schema::from<wire::Request>();
  for (auto field : schema.getUnionFields()) {
    capnp::MallocMessageBuilder message;
    auto root = message.initRoot<wire::Request>();
    root.setId(1);
    auto dynamic = capnp::toDynamic(root);
    auto type = field.getType();
    if (type.isStruct()) {
      dynamic.init(field);
    } else if (type.isList()) {
      auto list = dynamic.init(field, 1).as<capnp::DynamicList>();
      if (type.asList().getElementType().isText()) list.set(0, "seed");
    } else if (type.isText()) {
      dynamic.set(field, "seed");
    } else if (type.isVoid()) {
      dynamic.set(field, capnp::VOID);
    } else {
      dynamic.set(field, 1);
    }
    std::string frame;
    protocol::appendFrame(message, frame);
    std::string name = field.getProto().getName();
    std::ofstream(fmt::format("{}/{}", argv[1], name), std::ios::binary) << frame;
  }
  return 0;
}
