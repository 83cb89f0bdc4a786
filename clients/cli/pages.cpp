#include "pages.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

namespace gatehouse::cli {
namespace {

// Copies every element of the pages' lists (read by `list`) into `out`.
template <typename Out, typename Get>
void concat(Out out, std::vector<client::Answer>& pages, Get list) {
  unsigned i = 0;
  for (auto& page : pages) {
    for (auto element : list(page.get())) out.setWithCaveats(i++, element);
  }
}

template <typename Get>
unsigned total(std::vector<client::Answer>& pages, Get list) {
  unsigned n = 0;
  for (auto& page : pages) n += list(page.get()).size();
  return n;
}

}  // namespace

uint64_t nextPageToken(const client::Answer& answer) {
  auto r = answer.get();
  switch (r.which()) {
    case wire::Response::COMPANIES:
      return r.getCompanies().getMore() ? r.getCompanies().getNextPageToken() : 0;
    case wire::Response::CATALOG:
      return r.getCatalog().getMore() ? r.getCatalog().getNextPageToken() : 0;
    case wire::Response::ROLES:
      return r.getRoles().getMore() ? r.getRoles().getNextPageToken() : 0;
    case wire::Response::SA_VIEW:
      return r.getSaView().getMore() ? r.getSaView().getNextPageToken() : 0;
    default:
      return 0;
  }
}

client::Answer mergePages(std::vector<client::Answer>& pages) {
  if (pages.size() == 1) return std::move(pages.front());
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Response>();
  auto first = pages.front().get();
  root.setId(first.getId());
  switch (first.which()) {
    case wire::Response::COMPANIES: {
      auto get = [](wire::Response::Reader r) { return r.getCompanies().getCompanies(); };
      auto out = root.initCompanies();
      out.setRevision(first.getCompanies().getRevision());
      concat(out.initCompanies(total(pages, get)), pages, get);
      break;
    }
    case wire::Response::CATALOG: {
      auto get = [](wire::Response::Reader r) { return r.getCatalog().getNames(); };
      auto out = root.initCatalog();
      out.setRevision(first.getCatalog().getRevision());
      auto names = out.initNames(total(pages, get));
      unsigned i = 0;
      for (auto& page : pages) {
        for (auto name : get(page.get())) names.set(i++, name);
      }
      break;
    }
    case wire::Response::ROLES: {
      auto get = [](wire::Response::Reader r) { return r.getRoles().getRoles(); };
      auto out = root.initRoles();
      out.setRevision(first.getRoles().getRevision());
      concat(out.initRoles(total(pages, get)), pages, get);
      break;
    }
    case wire::Response::SA_VIEW: {
      auto get = [](wire::Response::Reader r) { return r.getSaView().getRows(); };
      auto out = root.initSaView();
      out.setRevision(first.getSaView().getRevision());
      out.setCompany(first.getSaView().getCompany());
      concat(out.initRows(total(pages, get)), pages, get);
      break;
    }
    default:
      return std::move(pages.front());
  }
  return client::Answer(capnp::messageToFlatArray(message));
}

}  // namespace gatehouse::cli
