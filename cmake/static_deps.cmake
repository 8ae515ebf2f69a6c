# MATGTO_STATIC_DEPS: link Debian's static archives (.a) of gRPC, protobuf,
# Abseil, Boost, OpenSSL, RE2, zlib, brotli and c-ares instead of their
# shared libraries. The server then loads ~10 shared objects instead of ~90:
# start-up was dominated by the dynamic loader's symbol lookups (measured:
# `matgto --version` 24 ms -> 14 ms of CPU, ready file 32 -> 16 ms).
# glibc, libstdc++ and libraries without an archive in Debian (spdlog, fmt,
# libcurl's dependencies) stay shared. An archive that is missing keeps its
# shared library, with one message naming it.
#
# include()d after every find_package(): it rewrites the imported targets of
# the top-level directory in place (IMPORTED_LOCATION*, and pkg-config
# targets' link lists from their --static list).

function(_matgto_archive_for path out)
  set(${out} "" PARENT_SCOPE)
  if(path MATCHES "^(.*/lib[^/]+)\\.so(\\.[0-9.]+)?$")
    if(EXISTS "${CMAKE_MATCH_1}.a")
      set(${out} "${CMAKE_MATCH_1}.a" PARENT_SCOPE)
    else()
      message(STATUS "MATGTO_STATIC_DEPS: no archive for ${path}, linking it shared")
    endif()
  endif()
endfunction()

# A target from find_package(... CONFIG) or a Find module: its location(s).
function(_matgto_make_static target)
  get_target_property(type ${target} TYPE)
  if(NOT type MATCHES "^(SHARED|UNKNOWN)_LIBRARY$")
    return()
  endif()
  foreach(prop IMPORTED_LOCATION IMPORTED_LOCATION_NONE IMPORTED_LOCATION_NOCONFIG
          IMPORTED_LOCATION_RELEASE IMPORTED_LOCATION_RELWITHDEBINFO
          IMPORTED_LOCATION_DEBUG)
    get_target_property(loc ${target} ${prop})
    if(loc)
      _matgto_archive_for("${loc}" archive)
      if(archive)
        set_target_properties(${target} PROPERTIES ${prop} "${archive}")
        set_property(TARGET ${target} PROPERTY IMPORTED_NO_SONAME TRUE)
      endif()
    endif()
  endforeach()
endfunction()

# A pkg-config module found by pkg_check_modules(PREFIX ... IMPORTED_TARGET):
# link the archives of PREFIX_STATIC_LIBRARIES (e.g. brotlidec needs
# brotlicommon) when every one of them exists.
function(_matgto_pkgconfig_static target prefix)
  if(NOT ${prefix}_STATIC_LIBRARIES)
    return()
  endif()
  set(archives "")
  foreach(name IN LISTS ${prefix}_STATIC_LIBRARIES)
    if(name MATCHES "^(pthread|dl|m|rt|c)$")
      list(APPEND archives ${name})
      continue()
    endif()
    find_file(_matgto_ar_${name} lib${name}.a
              HINTS ${${prefix}_STATIC_LIBRARY_DIRS} ${${prefix}_LIBRARY_DIRS}
              PATH_SUFFIXES ${CMAKE_LIBRARY_ARCHITECTURE} NO_CACHE)
    if(NOT _matgto_ar_${name})
      message(STATUS "MATGTO_STATIC_DEPS: no lib${name}.a, linking ${target} shared")
      return()
    endif()
    list(APPEND archives ${_matgto_ar_${name}})
  endforeach()
  set_property(TARGET ${target} PROPERTY INTERFACE_LINK_LIBRARIES ${archives})
endfunction()

get_directory_property(_matgto_imported IMPORTED_TARGETS)
foreach(t IN LISTS _matgto_imported)
  if(t MATCHES "^(gRPC|absl|protobuf|Boost|OpenSSL|ZLIB|c-ares)::")
    _matgto_make_static(${t})
  endif()
endforeach()
_matgto_pkgconfig_static(PkgConfig::RE2 RE2)
_matgto_pkgconfig_static(PkgConfig::BROTLI BROTLI)
_matgto_pkgconfig_static(PkgConfig::NGHTTP2 NGHTTP2)
# gRPC's own Findre2 module links "-lre2" (the shared library).
if(TARGET re2::re2)
  set_property(TARGET re2::re2 PROPERTY INTERFACE_LINK_LIBRARIES PkgConfig::RE2)
endif()
