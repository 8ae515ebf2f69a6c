#include "server/proxy/response_parser.h"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <cstring>

namespace matgto::proxy {

namespace http = boost::beast::http;

namespace {
constexpr size_t kUsualFields = 16;
}  // namespace

void ResponseParser::on_response_impl(int code, string_view reason, int version,
                                      error_code& ec) {
  response_.status = code;
  // An empty reason reads as the status's standard one, as Beast's
  // messages read it (and as the proxy writes it).
  if (reason.empty()) reason = http::obsolete_reason(http::int_to_status(code));
  response_.reason.assign(reason.data(), reason.size());
  response_.version = version;
  // Room for a usual response's fields: one allocation, not one per
  // doubling.
  response_.headers.reserve(kUsualFields);
  ec = {};
}

void ResponseParser::Reuse(core::HttpResponse storage) {
  response_ = std::move(storage);
  response_.status = 0;
  response_.reason.clear();
  response_.version = 11;
  fields_ = 0;  // the entries stay until on_header_impl (their memory)
  if (response_.body.capacity() > kKeepBodyBytes) {
    std::string().swap(response_.body);
  } else {
    response_.body.clear();
  }
  response_.trailers.clear();
  response_.chunks.clear();
  response_.spooled.reset();
  response_.wire.Clear();
}

void ResponseParser::on_field_impl(http::field, string_view name,
                                   string_view value, error_code& ec) {
  if (fields_ < response_.headers.size()) {
    core::Header& field = response_.headers[fields_];
    field.name.assign(name.data(), name.size());
    field.value.assign(value.data(), value.size());
  } else {
    response_.headers.push_back(
        core::Header{std::string(name.data(), name.size()),
                     std::string(value.data(), value.size())});
  }
  ++fields_;
  ec = {};
}

void ResponseParser::on_header_impl(error_code& ec) {
  response_.headers.resize(fields_);  // drops what a Reuse left over
  ec = {};
}

void ResponseParser::on_body_init_impl(
    const boost::optional<std::uint64_t>& content_length, error_code& ec) {
  ec = {};
  // (What Beast's string_body does; the parser's body limit already
  // refused a length beyond it.)
  if (!relaying_ && content_length.has_value()) {
    response_.body.reserve(static_cast<size_t>(*content_length));
  }
}

std::size_t ResponseParser::on_body_impl(string_view body, error_code& ec) {
  if (!relaying_) {
    response_.body.append(body.data(), body.size());
    ec = {};
    return body.size();
  }
  if (piece_left_ == 0) {
    ec = http::error::need_buffer;
    return 0;
  }
  const size_t n = std::min(piece_left_, body.size());
  std::memcpy(piece_, body.data(), n);
  piece_ += n;
  piece_left_ -= n;
  if (n < body.size()) {
    ec = http::error::need_buffer;
  } else {
    ec = {};
  }
  return n;
}

void ResponseParser::on_chunk_header_impl(std::uint64_t, string_view,
                                          error_code& ec) {
  ec = {};
}

std::size_t ResponseParser::on_chunk_body_impl(std::uint64_t, string_view body,
                                               error_code& ec) {
  return on_body_impl(body, ec);
}

void ResponseParser::on_finish_impl(error_code& ec) { ec = {}; }

}  // namespace matgto::proxy
