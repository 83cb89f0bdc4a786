# The Debian packages, made by CPack's DEB generator from this build's install components
# (./scripts/package; tests/package_test.cpp checks them, lintian included):
#   gatehouse      the `runtime` component: daemon, CLI, load generator, units, snippets,
#                  configuration (a conffile), man pages, bash completion, docs; maintainer scripts in
#                  packaging/debian/
#   gatehouse-dev  the `dev` component: the C++ client's headers, static libraries, schema, CMake
#                  package and pkg-config file
# CPack rather than dpkg-buildpackage: it packages the Release build that CI has already made and
# tested, in seconds, where a debian/rules build would compile everything a second time (minutes
# on CI's two cores). What debhelper would add is here by hand: maintainer scripts, conffiles,
# copyright and changelog, compressed man pages; dependencies come from dpkg-shlibdeps as with
# dh_shlibdeps.

set(GATEHOUSE_DEBIAN_DIR ${CMAKE_CURRENT_LIST_DIR}/debian)

# The changelog's newest entry must be this version: a release bumps both.
file(STRINGS ${GATEHOUSE_DEBIAN_DIR}/changelog GATEHOUSE_CHANGELOG_TOP LIMIT_COUNT 1)
if(NOT GATEHOUSE_CHANGELOG_TOP MATCHES "^gatehouse \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "packaging/debian/changelog: the newest entry is not version "
                      "${PROJECT_VERSION} (project()): add one")
endif()

# Debian wants every package's copyright and changelog in its own doc directory. Only packages
# get them (EXCLUDE_FROM_ALL: not `cmake --install` without --component).
set(GATEHOUSE_COMPONENTS runtime dev)
set(GATEHOUSE_PACKAGES gatehouse gatehouse-dev)
foreach(component package IN ZIP_LISTS GATEHOUSE_COMPONENTS GATEHOUSE_PACKAGES)
  install(FILES ${GATEHOUSE_DEBIAN_DIR}/copyright ${GATEHOUSE_DEBIAN_DIR}/changelog
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package}
          COMPONENT ${component} EXCLUDE_FROM_ALL)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gatehouse)
set(CPACK_PACKAGE_VENDOR "gatehouse maintainers")
set(CPACK_PACKAGE_CONTACT
    "gatehouse maintainers <maintainers@users.noreply.r-seed-a3d8b76d.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS ${CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS})
# gzip -9n the man pages and changelogs in the staging tree (plain installs keep them as they are).
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/compress_docs.cmake)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # gatehouse_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)  # gatehouse-dev: Depends gatehouse (= version)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME gatehouse)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
# systemd-sysusers creates the user in postinst.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${GATEHOUSE_DEBIAN_DIR}/conffiles ${GATEHOUSE_DEBIAN_DIR}/postinst
    ${GATEHOUSE_DEBIAN_DIR}/prerm ${GATEHOUSE_DEBIAN_DIR}/postrm)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "authorization daemon for multi-tenant router management
gatehoused keeps a permission graph (companies, users, service accounts,
roles, grants) memory-mapped in LMDB and answers whether a principal may
do something in a company over a local Unix socket, with API key,
password and TOTP checks. It runs under systemd, started by gatehoused.socket.
.
This package holds the daemon, the gatehouse command-line client, the
gatehouse-benchmark load generator, the systemd units and the
configuration.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME gatehouse-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libcapnp-dev, libfmt-dev")
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "C++ client of the gatehouse authorization daemon
The C++ client library of gatehoused (static), its headers, the Cap'n Proto
schema of the wire protocol, a CMake package (find_package(gatehouse),
target gatehouse::client) and a pkg-config file (gatehouse).")

include(CPack)
