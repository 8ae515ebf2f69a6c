// CassetteOptions and Fault builders over the generated messages.
#include "matgto/options.h"

namespace matgto {
namespace {

void SetDuration(std::chrono::milliseconds d, google::protobuf::Duration* out) {
  out->set_seconds(d.count() / 1000);
  out->set_nanos(static_cast<int32_t>((d.count() % 1000) * 1000000));
}

template <typename Field>
void Assign(Field* field, std::vector<std::string> values) {
  field->Clear();
  for (std::string& v : values) field->Add(std::move(v));
}

}  // namespace

CassetteOptions CassetteOptions::Raw(const v1::CassetteOptions& raw) {
  CassetteOptions o;
  o.proto_ = raw;
  o.set_ = true;
  return o;
}

#define MATGTO_SETTER(Signature, ...)           \
  CassetteOptions& CassetteOptions::Signature { \
    set_ = true;                                \
    __VA_ARGS__;                                \
    return *this;                               \
  }

MATGTO_SETTER(OnExhausted(v1::ExhaustedPolicy p), proto_.set_on_exhausted(p))
MATGTO_SETTER(Repeat(v1::RepeatPolicy p), proto_.set_repeat(p))
MATGTO_SETTER(OnMiss(v1::MissPolicy p), proto_.set_on_miss(p))
MATGTO_SETTER(StoreDecoded(), proto_.set_body_storage(v1::DECODED))
MATGTO_SETTER(StoreAsSent(), proto_.set_body_storage(v1::AS_SENT))
MATGTO_SETTER(WsTiming(v1::WsTiming t), proto_.set_ws_timing(t))
MATGTO_SETTER(WsSpeed(double speed), proto_.set_ws_speed(speed))
MATGTO_SETTER(StreamTiming(v1::WsTiming t), proto_.set_stream_timing(t))
MATGTO_SETTER(StreamSpeed(double speed), proto_.set_stream_speed(speed))
MATGTO_SETTER(MatchFields(std::vector<v1::MatchField> fields), {
  auto* f = proto_.mutable_match_rules()->mutable_fields();
  f->Clear();
  for (v1::MatchField x : fields) f->Add(x);
})
MATGTO_SETTER(MatchHeaders(std::vector<std::string> names),
              Assign(proto_.mutable_match_rules()->mutable_headers(),
                     std::move(names)))
MATGTO_SETTER(MatchBody(v1::BodyMatch body),
              proto_.mutable_match_rules()->set_body(body))
MATGTO_SETTER(
    IgnoreQueryParams(std::vector<std::string> names),
    Assign(proto_.mutable_match_rules()->mutable_ignore_query_params(),
           std::move(names)))
MATGTO_SETTER(QueryOrderInsensitive(),
              proto_.mutable_match_rules()->set_query_order_insensitive(true))
// Ignoring JSON pointers (form fields) implies JSON (form) body matching,
// unless a body match was chosen: then the choice stands, whatever the order
// of the calls.
MATGTO_SETTER(IgnoreJsonPointers(std::vector<std::string> pointers), {
  if (proto_.match_rules().body() == v1::BODY_MATCH_UNSPECIFIED) {
    proto_.mutable_match_rules()->set_body(v1::BODY_JSON);
  }
  Assign(proto_.mutable_match_rules()->mutable_ignore_json_pointers(),
         std::move(pointers));
})
MATGTO_SETTER(IgnoreFormFields(std::vector<std::string> fields), {
  if (proto_.match_rules().body() == v1::BODY_MATCH_UNSPECIFIED) {
    proto_.mutable_match_rules()->set_body(v1::BODY_FORM);
  }
  Assign(proto_.mutable_match_rules()->mutable_ignore_form_fields(),
         std::move(fields));
})
MATGTO_SETTER(UrlRewrite(std::string re2_pattern, std::string replacement), {
  v1::UrlRewrite* r = proto_.mutable_match_rules()->add_url_rewrites();
  r->set_pattern(std::move(re2_pattern));
  r->set_replacement(std::move(replacement));
})
MATGTO_SETTER(RedactHeaders(std::vector<std::string> names),
              Assign(proto_.mutable_redact()->mutable_headers(),
                     std::move(names)))
MATGTO_SETTER(RedactQueryParams(std::vector<std::string> names),
              Assign(proto_.mutable_redact()->mutable_query_params(),
                     std::move(names)))
MATGTO_SETTER(RedactJsonPointers(std::vector<std::string> pointers),
              Assign(proto_.mutable_redact()->mutable_json_pointers(),
                     std::move(pointers)))
MATGTO_SETTER(RedactJsonKeys(std::vector<std::string> keys),
              Assign(proto_.mutable_redact()->mutable_json_keys(),
                     std::move(keys)))
MATGTO_SETTER(RedactFormFields(std::vector<std::string> fields),
              Assign(proto_.mutable_redact()->mutable_form_fields(),
                     std::move(fields)))
MATGTO_SETTER(RedactBodyPatterns(std::vector<std::string> re2_patterns),
              Assign(proto_.mutable_redact()->mutable_body_patterns(),
                     std::move(re2_patterns)))
MATGTO_SETTER(DisableDefaultRedaction(),
              proto_.mutable_redact()->set_disable_defaults(true))
MATGTO_SETTER(OnUnredactable(v1::UnredactablePolicy p),
              proto_.mutable_redact()->set_on_unredactable(p))
MATGTO_SETTER(LatencyFast(), {
  proto_.clear_latency();
  proto_.mutable_latency()->set_mode(v1::LATENCY_FAST);
})
MATGTO_SETTER(LatencyAsRecorded(double scale), {
  proto_.clear_latency();
  proto_.mutable_latency()->set_mode(v1::LATENCY_AS_RECORDED);
  // 0 means 1.0: the default scale is left unset, as the other clients do.
  if (scale != 1.0) proto_.mutable_latency()->set_scale(scale);
})
MATGTO_SETTER(LatencyFixed(std::chrono::milliseconds fixed,
                           std::chrono::milliseconds jitter),
              {
                proto_.clear_latency();
                v1::Latency* l = proto_.mutable_latency();
                l->set_mode(v1::LATENCY_FIXED);
                SetDuration(fixed, l->mutable_fixed());
                if (jitter.count() > 0)
                  SetDuration(jitter, l->mutable_jitter());
              })
#undef MATGTO_SETTER

Fault Fault::Status(uint32_t code,
                    std::vector<std::pair<std::string, std::string>> headers,
                    std::string body) {
  Fault f;
  v1::StatusFault* s = f.proto_.mutable_status();
  s->set_code(code);
  for (auto& [name, value] : headers) {
    v1::Header* h = s->add_headers();
    h->set_name(std::move(name));
    h->set_value(std::move(value));
  }
  s->set_body(std::move(body));
  return f;
}

Fault Fault::Delay(std::chrono::milliseconds delay) {
  Fault f;
  SetDuration(delay, f.proto_.mutable_delay());
  return f;
}

Fault Fault::Hang() {
  Fault f;
  f.proto_.mutable_hang();
  return f;
}

Fault Fault::Reset(v1::ResetFault::When when) {
  Fault f;
  f.proto_.mutable_reset()->set_when(when);
  return f;
}

Fault Fault::Bandwidth(uint64_t bytes_per_second) {
  Fault f;
  f.proto_.set_bandwidth_bytes_per_second(bytes_per_second);
  return f;
}

Fault Fault::WebSocket(uint32_t drop_after_messages,
                       std::chrono::milliseconds message_delay) {
  Fault f;
  v1::WsFault* w = f.proto_.mutable_websocket();
  w->set_drop_after_messages(drop_after_messages);
  if (message_delay.count() > 0) {
    SetDuration(message_delay, w->mutable_message_delay());
  }
  return f;
}

Fault Fault::Raw(const v1::Fault& raw) {
  Fault f;
  f.proto_ = raw;
  return f;
}

Fault& Fault::Method(std::string method) {
  proto_.set_method(std::move(method));
  return *this;
}
Fault& Fault::Url(std::string re2_pattern) {
  proto_.set_url_pattern(std::move(re2_pattern));
  return *this;
}
Fault& Fault::FirstN(uint32_t n) {
  proto_.set_first_n(n);
  return *this;
}
Fault& Fault::EveryNth(uint32_t n) {
  proto_.set_every_nth(n);
  return *this;
}
Fault& Fault::Probability(double p) {
  proto_.set_probability(p);
  return *this;
}

}  // namespace matgto
