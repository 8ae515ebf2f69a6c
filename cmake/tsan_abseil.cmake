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
  ${_src}/blocking_counter.cc ${_src}/barrier.cc
  ${_src}/internal/waiter.cc ${_src}/internal/per_thread_sem.cc
  ${_src}/internal/create_thread_identity.cc)
# Installed headers only (the debian3 inline namespace and options must match
# the shared libraries): absl::synchronization brings them and the defines.
target_link_libraries(matgto_tsan_abseil PRIVATE absl::synchronization)
# The preset undefines __SANITIZE_THREAD__ so that third-party headers lay out
# their types as the uninstrumented libraries do (protobuf's MapFieldBase
# grows two fields under TSan: google::protobuf::Struct then crashes). Here it
# is wanted back: it turns on Abseil's TSan annotations of its locks.
target_compile_options(matgto_tsan_abseil PRIVATE -D__SANITIZE_THREAD__=1)
# A thread blocked in Abseil's futex waiter (a raw syscall TSan does not
# intercept) never runs the signal handlers TSan defers to it: SIGTERM sent to
# a server whose main thread waits on an absl::Notification was never handled.
# The condition-variable waiter blocks in pthread_cond_wait, which TSan
# intercepts (and understands). Waiter lives in opaque per-thread storage
# sized for every mode; its functions and the code that creates a thread's
# Waiter (create_thread_identity.cc, so TSan sees its pthread_mutex_init)
# are all compiled here.
target_compile_definitions(matgto_tsan_abseil PRIVATE ABSL_FORCE_WAITER_MODE=2)

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
