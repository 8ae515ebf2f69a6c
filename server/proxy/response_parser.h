// An upstream response parser that keeps what it reads in core types.
//
// Beast's basic_parser reads the framing (Content-Length, chunked, read to
// the end), checks the syntax and enforces the limits; this class, one of
// its documented extension points, only keeps what it reports: the status
// line and each field straight into a core::HttpResponse, the body into
// its string or, while a large or streamed body is relayed, into the
// caller's buffer (Beast's buffer_body semantics). Beast's
// http::response_parser kept the fields in basic_fields -- an allocation
// and an intrusive-set insert per field -- that were then copied into core
// types: ~4k instructions of a forwarded exchange's 36k.
//
// Fields after a chunked body (trailers) are appended to the headers, as
// Beast's parser does.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>
#include <cstdint>

#include "server/core/http.h"

namespace matgto::proxy {

class ResponseParser : public boost::beast::http::basic_parser<false> {
 public:
  ResponseParser() = default;

  // The response read so far: the status line and headers once
  // is_header_done(), the body too once is_done() (unless relaying).
  core::HttpResponse& response() { return response_; }

  // From now on body bytes go to [data, data + size) instead of the
  // response's body: each put stops with http::error::need_buffer once it
  // is full (see http::buffer_body). BodyLeft() is the room still free.
  void BodyInto(char* data, size_t size) {
    relaying_ = true;
    piece_ = data;
    piece_left_ = size;
  }
  size_t BodyLeft() const { return piece_left_; }

  // Parses into `storage`'s memory: its header strings, header list and
  // body keep their capacity (a body's up to kKeepBodyBytes), its content
  // is dropped. A connection hands back the response of its previous
  // exchange, so a warm one reads a usual response without allocating.
  // Call before parsing.
  void Reuse(core::HttpResponse storage);
  static constexpr size_t kKeepBodyBytes = 64 * 1024;

 private:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, string_view reason, int version,
                        error_code& ec) override;
  void on_field_impl(boost::beast::http::field, string_view name,
                     string_view value, error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, string_view,
                            error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body,
                                 error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  core::HttpResponse response_;
  // Fields parsed so far; response_.headers may hold more entries (kept
  // for their strings' memory, see Reuse) until the header is done.
  size_t fields_ = 0;
  bool relaying_ = false;
  char* piece_ = nullptr;
  size_t piece_left_ = 0;
};

}  // namespace matgto::proxy
