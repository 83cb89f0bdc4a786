// A program built against the installed gatehouse client (tests/install_test.cpp builds it with
// find_package and with pkg-config): pings the daemon on the socket it is given.
#include <gatehouse/client.hpp>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto client = gatehouse::client::Client::connect(argv[1]);
  auto answer = client.call([](gatehouse::wire::Request::Builder r) { r.setPing(); });
  std::cout << (answer->which() == gatehouse::wire::Response::PONG ? "pong" : "?") << "\n";
  return 0;
}
