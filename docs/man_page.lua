-- A pandoc filter that makes a man page of one of these docs (CMakeLists.txt,
-- gatehouse_doc_man_page): the page's own "# Title" becomes DESCRIPTION, after a NAME section
-- built from the metadata `title` and `description` (what whatis(1) and apropos(1) read);
-- tables become tagged paragraphs ("key = default" over "meaning"), which fit a terminal where
-- tbl(1) columns do not; links to the other docs keep only their text.

local function text(cell)
  return pandoc.utils.blocks_to_inlines(cell.contents)
end

function Table(tbl)
  local items = {}
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local term = text(cells[1])
      if #cells > 2 then
        term:extend({pandoc.Space(), pandoc.Str("="), pandoc.Space()})
        term:extend(text(cells[2]))
      end
      items[#items + 1] = {term, {pandoc.Plain(text(cells[#cells]))}}
    end
  end
  return pandoc.DefinitionList(items)
end

function Link(link)
  return link.content
end

function Pandoc(doc)
  local blocks = {
    pandoc.Header(1, "NAME"),
    pandoc.Para({pandoc.Str(pandoc.utils.stringify(doc.meta.title)), pandoc.Space(),
                 pandoc.Str("-"), pandoc.Space(),
                 pandoc.Str(pandoc.utils.stringify(doc.meta.description))}),
  }
  for i, block in ipairs(doc.blocks) do
    if i == 1 and block.t == "Header" and block.level == 1 then
      block = pandoc.Header(1, "DESCRIPTION")
    end
    blocks[#blocks + 1] = block
  end
  return pandoc.Pandoc(blocks, doc.meta)
end
