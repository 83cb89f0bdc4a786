# CPack pre-build script (packaging/debian.cmake): compresses what Debian policy wants compressed
# in the staged packages — man pages and changelogs — with `gzip -9n` (no name or time stamp, so
# the same input makes the same bytes), as dh_compress would.
file(GLOB_RECURSE staged LIST_DIRECTORIES false "${CPACK_TEMPORARY_DIRECTORY}/*")
list(FILTER staged INCLUDE REGEX "/usr/share/(man/man[1-9]/[^/]+\\.[1-9]|doc/[^/]+/changelog)$")
foreach(file IN LISTS staged)
  execute_process(COMMAND gzip -9nf ${file} COMMAND_ERROR_IS_FATAL ANY)
endforeach()
