// See boost_assert.cc: Boost's assertion handler for builds with assertions.
#pragma once

namespace matgto::core {

// True for a Boost assertion (its expression text and file) that Boost itself
// later found to be wrong; the handler ignores those and aborts on the rest.
bool IsKnownWrongBoostAssertion(const char* expr, const char* file);

}  // namespace matgto::core
