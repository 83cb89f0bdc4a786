// Test helpers for the service: an answer sink that hands the answer to a future.
#pragma once

#include <future>
#include <memory>
#include <string>

#include "protocol/handler.hpp"

namespace gatehouse::service::testing {

// Receives a queued request's answer (on the writer or a pool thread) and hands it to the
// future; one answer per sink.
class PromiseSink : public protocol::AnswerSink, public std::enable_shared_from_this<PromiseSink> {
 public:
  std::shared_ptr<protocol::AnswerSink> retain() override { return shared_from_this(); }
  void answer(std::string frame) override { promise_.set_value(std::move(frame)); }
  // Once, before the answer is awaited.
  std::future<std::string> future() { return promise_.get_future(); }
  std::string wait() { return future().get(); }

 private:
  std::promise<std::string> promise_;
};

}  // namespace gatehouse::service::testing
