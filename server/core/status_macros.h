// Propagation macros for absl::Status / absl::StatusOr.
//
// Debian's Abseil (20220623) does not ship public RETURN_IF_ERROR /
// ASSIGN_OR_RETURN, so they are defined once here for the whole server.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MATGTO_CONCAT_INNER_(a, b) a##b
#define MATGTO_CONCAT_(a, b) MATGTO_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                                         \
  do {                                                                \
    if (absl::Status matgto_status_ = (expr); !matgto_status_.ok()) { \
      return matgto_status_;                                          \
    }                                                                 \
  } while (false)

// ASSIGN_OR_RETURN(auto x, MakeX()); declares/assigns `lhs` from the value of a
// StatusOr, returning its status from the enclosing function on error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(MATGTO_CONCAT_(matgto_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()
