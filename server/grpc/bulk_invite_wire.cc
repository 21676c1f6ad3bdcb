#include "server/grpc/bulk_invite_wire.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/wire_format_lite.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "server/domain/errors.h"
#include "server/grpc/proto_convert.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

using google::protobuf::io::CodedInputStream;
using WireFormat = google::protobuf::internal::WireFormatLite;
using WireType = WireFormat::WireType;

constexpr absl::string_view kMessage = "securelink.invitations.v1.BulkInviteRequest";

absl::string_view WireTypeName(WireType type) {
  switch (type) {
    case WireFormat::WIRETYPE_VARINT: return "varint";
    case WireFormat::WIRETYPE_FIXED64: return "64-bit";
    case WireFormat::WIRETYPE_LENGTH_DELIMITED: return "length-delimited";
    case WireFormat::WIRETYPE_START_GROUP: return "group start";
    case WireFormat::WIRETYPE_END_GROUP: return "group end";
    case WireFormat::WIRETYPE_FIXED32: return "32-bit";
  }
  return "invalid";
}

// The fields of BulkInviteRequest, with the wire type each is sent as.
struct KnownField {
  int number;
  absl::string_view name;
  WireType type;
};
using Request = v1::BulkInviteRequest;
constexpr KnownField kKnownFields[] = {
    {Request::kEmailsFieldNumber, "emails", WireFormat::WIRETYPE_LENGTH_DELIMITED},
    {Request::kTextFieldNumber, "text", WireFormat::WIRETYPE_LENGTH_DELIMITED},
    {Request::kCsvFieldNumber, "csv", WireFormat::WIRETYPE_LENGTH_DELIMITED},
    {Request::kRoleFieldNumber, "role", WireFormat::WIRETYPE_VARINT},
    {Request::kTenantIdFieldNumber, "tenant_id", WireFormat::WIRETYPE_LENGTH_DELIMITED},
    {Request::kTtlFieldNumber, "ttl", WireFormat::WIRETYPE_LENGTH_DELIMITED},
    {Request::kValidateOnlyFieldNumber, "validate_only", WireFormat::WIRETYPE_VARINT},
    {Request::kSuppressEmailFieldNumber, "suppress_email", WireFormat::WIRETYPE_VARINT},
    {Request::kLocaleFieldNumber, "locale", WireFormat::WIRETYPE_LENGTH_DELIMITED},
};

const KnownField* Find(int number) {
  for (const KnownField& field : kKnownFields) {
    if (field.number == number) return &field;
  }
  return nullptr;
}

class RequestReader {
 public:
  RequestReader(google::protobuf::io::ZeroCopyInputStream& in, size_t max_list_entries)
      : in_(&in), max_list_entries_(max_list_entries) {}

  absl::StatusOr<BulkInviteInput> Read() && {
    while (true) {
      const uint32_t tag = in_.ReadTag();
      if (tag == 0) {
        // 0 is also what a malformed tag or a literal zero tag reads as.
        if (!in_.ConsumedEntireMessage()) return Malformed("a field tag");
        break;
      }
      absl::Status read = ReadField(tag);
      if (!read.ok()) return read;
    }
    if (has_ttl_) out_.ttl = absl::Seconds(ttl_seconds_) + absl::Nanoseconds(ttl_nanos_);
    return std::move(out_);
  }

 private:
  absl::Status ReadField(uint32_t tag) {
    const int field = WireFormat::GetTagFieldNumber(tag);
    const WireType type = WireFormat::GetTagWireType(tag);
    const KnownField* known = Find(field);
    if (known == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          kMessage, " has no field number ", field, " (sent as ", WireTypeName(type),
          "); this server does not know what it would mean, so it refuses the call rather than "
          "ignore the field"));
    }
    // The generated parser would keep such a field as unknown: refused for the same reason.
    if (type != known->type) {
      return InvalidField(known->name, absl::StrCat("was sent as ", WireTypeName(type),
                                                    " but is ", WireTypeName(known->type),
                                                    " in ", kMessage));
    }
    switch (field) {
      case Request::kEmailsFieldNumber:
        return ReadEmailList();
      case Request::kTextFieldNumber:
        SelectSource(BulkSource::kText);
        return ReadString(known->name, /*utf8=*/true, &out_.document);
      case Request::kCsvFieldNumber:
        SelectSource(BulkSource::kCsv);
        return ReadString(known->name, /*utf8=*/false, &out_.document);
      case Request::kRoleFieldNumber: {
        uint64_t value = 0;
        if (!in_.ReadVarint64(&value)) return Malformed(known->name);
        // An open enum keeps the low 32 bits, as the generated parser does.
        out_.role = FromProto(static_cast<v1::Role>(static_cast<int32_t>(value)));
        return absl::OkStatus();
      }
      case Request::kTenantIdFieldNumber:
        return ReadString(known->name, /*utf8=*/true, &out_.tenant_id);
      case Request::kTtlFieldNumber:
        return ReadTtl();
      case Request::kValidateOnlyFieldNumber:
        return ReadBool(known->name, &out_.validate_only);
      case Request::kSuppressEmailFieldNumber:
        return ReadBool(known->name, &out_.suppress_email);
      case Request::kLocaleFieldNumber:
        return ReadString(known->name, /*utf8=*/true, &out_.locale);
    }
    return absl::InternalError(absl::StrCat("field ", field, " of ", kMessage, " is not read"));
  }

  // A field of the oneof `source`: another member replaces what came before, as in the generated
  // message; the same member again continues it (a list) or replaces it (text, csv).
  void SelectSource(BulkSource source) {
    if (out_.source == source) return;
    out_.source = source;
    std::vector<std::string>().swap(out_.emails);
    std::string().swap(out_.document);
  }

  // One occurrence of `emails`: an EmailList whose elements are appended.
  absl::Status ReadEmailList() {
    SelectSource(BulkSource::kEmails);
    int length = 0;
    if (!in_.ReadVarintSizeAsInt(&length)) return Malformed("emails");
    const CodedInputStream::Limit limit = in_.PushLimit(length);
    while (true) {
      if (out_.emails.size() > max_list_entries_) {
        // Already more than allowed: nothing further of any list is read.
        if (!in_.Skip(in_.BytesUntilLimit())) return Malformed("emails");
        break;
      }
      const uint32_t tag = in_.ReadTag();
      if (tag == 0) {
        if (!AtLimit()) return Malformed("emails");
        break;
      }
      if (tag != WireFormat::MakeTag(v1::EmailList::kEmailsFieldNumber,
                                     WireFormat::WIRETYPE_LENGTH_DELIMITED)) {
        return InvalidField("emails", absl::StrCat("is an EmailList with an unknown field (number ",
                                                   WireFormat::GetTagFieldNumber(tag), ")"));
      }
      std::string element;
      RETURN_IF_ERROR(ReadString("emails", /*utf8=*/true, &element));
      out_.emails.push_back(std::move(element));
    }
    in_.PopLimit(limit);
    return absl::OkStatus();
  }

  // One occurrence of `ttl`, merged into what came before (a google.protobuf.Duration).
  absl::Status ReadTtl() {
    has_ttl_ = true;
    int length = 0;
    if (!in_.ReadVarintSizeAsInt(&length)) return Malformed("ttl");
    const CodedInputStream::Limit limit = in_.PushLimit(length);
    while (true) {
      const uint32_t tag = in_.ReadTag();
      if (tag == 0) {
        if (!AtLimit()) return Malformed("ttl");
        break;
      }
      uint64_t value = 0;
      if (tag == WireFormat::MakeTag(google::protobuf::Duration::kSecondsFieldNumber,
                                     WireFormat::WIRETYPE_VARINT)) {
        if (!in_.ReadVarint64(&value)) return Malformed("ttl");
        ttl_seconds_ = static_cast<int64_t>(value);
      } else if (tag == WireFormat::MakeTag(google::protobuf::Duration::kNanosFieldNumber,
                                            WireFormat::WIRETYPE_VARINT)) {
        if (!in_.ReadVarint64(&value)) return Malformed("ttl");
        ttl_nanos_ = static_cast<int32_t>(value);
      } else {
        return InvalidField("ttl", absl::StrCat("is a Duration with an unknown field (number ",
                                                WireFormat::GetTagFieldNumber(tag), ")"));
      }
    }
    in_.PopLimit(limit);
    return absl::OkStatus();
  }

  // Whether a 0 from ReadTag inside a sub-message is its proper end. The input may also have
  // ended before the length the sub-message announced, which reads as 0 too.
  bool AtLimit() { return in_.ConsumedEntireMessage() && in_.BytesUntilLimit() == 0; }

  absl::Status ReadBool(absl::string_view field, bool* out) {
    uint64_t value = 0;
    if (!in_.ReadVarint64(&value)) return Malformed(field);
    *out = value != 0;
    return absl::OkStatus();
  }

  // A length-delimited value; proto3 `string` fields must be UTF-8 (the generated parser refuses
  // the message otherwise), `bytes` fields need not.
  absl::Status ReadString(absl::string_view field, bool utf8, std::string* out) {
    int length = 0;
    if (!in_.ReadVarintSizeAsInt(&length) || !in_.ReadString(out, length)) {
      return Malformed(field);
    }
    // The check the generated parser makes (the same protobuf function), so the same strings
    // pass.
    if (utf8 && !google::protobuf::internal::IsStructurallyValidUTF8(
                    out->data(), static_cast<int>(out->size()))) {
      return InvalidField(field, "is not valid UTF-8");
    }
    return absl::OkStatus();
  }

  static absl::Status Malformed(absl::string_view where) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request is not a well-formed ", kMessage, ": truncated or corrupt at ",
                     where));
  }

  CodedInputStream in_;
  const size_t max_list_entries_;
  BulkInviteInput out_;
  bool has_ttl_ = false;
  int64_t ttl_seconds_ = 0;
  int32_t ttl_nanos_ = 0;
};

}  // namespace

absl::StatusOr<BulkInviteInput> ReadBulkInviteRequest(
    google::protobuf::io::ZeroCopyInputStream& in, size_t max_list_entries) {
  return RequestReader(in, max_list_entries).Read();
}

}  // namespace securelink::invitations
