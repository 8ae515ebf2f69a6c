# ThreadSanitizer and Debian's Abseil (the tsan preset; see
# scripts/abseil-tsan-source.sh for why). Compiles absl/synchronization from
# MATGTO_TSAN_ABSEIL_SRC (the installed version's own source) with the
# preset's -fsanitize=thread, against the installed headers, and links the
# objects into every executable, where they take precedence over
# libabsl_synchronization.so: absl::Mutex, CondVar, Notification,
# BlockingCounter and Barrier then tell TSan what they synchronise.
set(_src "${MATGTO_TSAN_ABSEIL_SRC}/absl/synchronization")
if(NOT EXISTS "${_src}/mutex.cc")
  message(FATAL_ERROR "MATGTO_TSAN_ABSEIL_SRC=${MATGTO_TSAN_ABSEIL_SRC} has no "
    "absl/synchronization/mutex.cc (scripts/abseil-tsan-source.sh fetches it)")
endif()
add_library(matgto_tsan_abseil OBJECT ${_src}/mutex.cc ${_src}/notification.cc
  ${_src}/blocking_counter.cc ${_src}/barrier.cc)
# Installed headers only (the debian3 inline namespace and options must match
# the shared libraries): absl::synchronization brings them and the defines.
target_link_libraries(matgto_tsan_abseil PRIVATE absl::synchronization)

function(_matgto_tsan_link_executables dir)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE")
      target_link_libraries(${t} PRIVATE matgto_tsan_abseil)
    endif()
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(d IN LISTS subdirs)
    _matgto_tsan_link_executables("${d}")
  endforeach()
endfunction()
_matgto_tsan_link_executables("${PROJECT_SOURCE_DIR}")
