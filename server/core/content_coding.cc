#include "server/core/content_coding.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace matgto::core {
namespace {

// gzip (windowBits 16+MAX_WBITS), zlib deflate (MAX_WBITS) or raw deflate
// (-MAX_WBITS, which some servers send for "deflate").
absl::StatusOr<std::string> Inflate(absl::string_view in, int window_bits,
                                    size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) {
    return absl::InternalError("inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char chunk[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return absl::InvalidArgumentError(
          absl::StrCat("corrupt compressed body (zlib error ", rc, ")"));
    }
    out.append(chunk, sizeof chunk - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return absl::ResourceExhaustedError("decoded body too large");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return absl::InvalidArgumentError("truncated compressed body");
    }
  }
  inflateEnd(&zs);
  return out;
}

absl::StatusOr<std::string> Unbrotli(absl::string_view in, size_t max_bytes) {
  BrotliDecoderState* st =
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  if (st == nullptr) return absl::InternalError("brotli decoder");
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
  size_t avail_in = in.size();
  std::string out;
  uint8_t chunk[64 * 1024];
  BrotliDecoderResult r;
  do {
    uint8_t* next_out = chunk;
    size_t avail_out = sizeof chunk;
    r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out,
                                      &next_out, nullptr);
    out.append(reinterpret_cast<char*>(chunk), sizeof chunk - avail_out);
    if (out.size() > max_bytes) {
      BrotliDecoderDestroyInstance(st);
      return absl::ResourceExhaustedError("decoded body too large");
    }
  } while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
  BrotliDecoderDestroyInstance(st);
  if (r != BROTLI_DECODER_RESULT_SUCCESS) {
    return absl::InvalidArgumentError("corrupt or truncated brotli body");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> DecodeContent(absl::string_view body,
                                          absl::string_view content_encoding,
                                          size_t max_bytes) {
  std::string current(body);
  const std::vector<absl::string_view> codings =
      absl::StrSplit(content_encoding, ',');
  // Listed in the order they were applied: undo the last one first.
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    const absl::string_view coding_raw = *it;
    const std::string coding =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(coding_raw));
    if (coding.empty() || coding == "identity") continue;
    absl::StatusOr<std::string> next;
    if (coding == "gzip" || coding == "x-gzip") {
      next = Inflate(current, 16 + MAX_WBITS, max_bytes);
    } else if (coding == "deflate") {
      next = Inflate(current, MAX_WBITS, max_bytes);
      if (!next.ok()) next = Inflate(current, -MAX_WBITS, max_bytes);
    } else if (coding == "br") {
      next = Unbrotli(current, max_bytes);
    } else {
      return absl::UnimplementedError(
          absl::StrCat("unknown content coding '", coding, "'"));
    }
    if (!next.ok()) return next.status();
    current = *std::move(next);
  }
  return current;
}

std::string ContentEncodingOf(const Headers& headers) {
  std::string out;
  for (const Header& h : headers) {
    if (!EqualsIgnoreCase(h.name, "content-encoding")) continue;
    if (!out.empty()) out += ", ";
    out += h.value;
  }
  return out;
}

absl::StatusOr<std::string> DecodeBody(const Headers& headers,
                                       const std::string& body) {
  if (body.empty()) return body;
  const std::string coding = ContentEncodingOf(headers);
  if (coding.empty()) return body;
  return DecodeContent(body, coding);
}

std::string DecodedBody(const Headers& headers, const std::string& body) {
  absl::StatusOr<std::string> decoded = DecodeBody(headers, body);
  return decoded.ok() ? *std::move(decoded) : body;
}

}  // namespace matgto::core
