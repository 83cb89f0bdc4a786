// Paged list answers (listCompanies, listCatalog, listRoles, saList): the token of the next page,
// and the pages merged into one answer, as if the daemon had answered in one page, so that the
// commands print every item whatever the page size. The pages are read at the revisions they
// were answered at; the merged answer carries the first page's.
#pragma once

#include <cstdint>
#include <vector>

#include "client.hpp"

namespace gatehouse::cli {

// The answer's next page token; 0 when it is the last page or not a list.
uint64_t nextPageToken(const client::Answer& answer);

// One answer holding every item of `pages` (all of one kind, at least one).
client::Answer mergePages(std::vector<client::Answer>& pages);

}  // namespace gatehouse::cli
