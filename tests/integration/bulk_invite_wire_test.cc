// BulkInvite's request read straight from the wire (server/grpc/bulk_invite_wire.h, SPEC §10): for
// every valid request exactly what parsing the generated message gives, at most one list element
// past the maximum, and INVALID_ARGUMENT for what the generated parser would refuse or keep as
// unknown. Then over real gRPC against a real MariaDB: hand-made wire bytes get those answers,
// and the responses are the bytes the generated message serializes to.
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "server/grpc/bulk_invite_wire.h"
#include "server/domain/errors.h"
#include "server/grpc/proto_convert.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
using inv::BulkInviteInput;
using inv::BulkSource;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

// What the handler used to build from the generated message: the reference the reader must match.
BulkInviteInput InputOf(const pb::BulkInviteRequest& request) {
  BulkInviteInput in;
  switch (request.source_case()) {
    case pb::BulkInviteRequest::kEmails:
      in.source = BulkSource::kEmails;
      in.emails.assign(request.emails().emails().begin(), request.emails().emails().end());
      break;
    case pb::BulkInviteRequest::kText:
      in.source = BulkSource::kText;
      in.document = request.text();
      break;
    case pb::BulkInviteRequest::kCsv:
      in.source = BulkSource::kCsv;
      in.document = request.csv();
      break;
    default:
      break;
  }
  in.role = inv::FromProto(request.role());
  in.tenant_id = request.tenant_id();
  in.ttl = inv::FromProto(request.has_ttl(), request.ttl());
  in.validate_only = request.validate_only();
  in.suppress_email = request.suppress_email();
  in.locale = request.locale();
  return in;
}

// Reads `wire` in pieces of `block` bytes, so that fields straddle the pieces as they straddle
// gRPC's slices.
absl::StatusOr<BulkInviteInput> Read(const std::string& wire, size_t max_list_entries = kNoLimit,
                                     int block = -1) {
  google::protobuf::io::ArrayInputStream in(wire.data(), static_cast<int>(wire.size()), block);
  return inv::ReadBulkInviteRequest(in, max_list_entries);
}

void ExpectSameInput(const BulkInviteInput& got, const BulkInviteInput& want,
                     const std::string& context) {
  EXPECT_EQ(got.source, want.source) << context;
  EXPECT_EQ(got.emails, want.emails) << context;
  EXPECT_EQ(got.document, want.document) << context;
  EXPECT_EQ(got.role, want.role) << context;
  EXPECT_EQ(got.tenant_id, want.tenant_id) << context;
  EXPECT_EQ(got.ttl, want.ttl) << context;
  EXPECT_EQ(got.validate_only, want.validate_only) << context;
  EXPECT_EQ(got.suppress_email, want.suppress_email) << context;
  EXPECT_EQ(got.locale, want.locale) << context;
}

std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const inv::FieldViolation& v : inv::GetErrorDetails(status).field_violations) {
    fields.push_back(v.field);
  }
  return fields;
}

// One field of a request, serialized: concatenating such pieces is how protobuf merges messages,
// so sequences of them exercise repeated fields, oneof switches and merged sub-messages.
std::string RandomPiece(std::mt19937& rng) {
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<std::string> strings = {"",           " ",
                                            "a@example.com", " B@Example.com\n",
                                            "x,y;z\n\nw",   "\xC3\xA9@example.com",
                                            std::string("a\0b", 3)};
  auto any_string = [&] { return strings[pick(static_cast<int>(strings.size()))]; };
  pb::BulkInviteRequest piece;
  switch (pick(10)) {
    case 0: {
      pb::EmailList* list = piece.mutable_emails();
      for (int n = pick(4); n > 0; --n) list->add_emails(any_string());
      break;
    }
    case 1: piece.set_text(any_string()); break;
    case 2: piece.set_csv(absl::StrCat(any_string(), "\xFF")); break;  // bytes need not be UTF-8
    case 3: {
      const int roles[] = {0, 1, 2, 3, 7, -1, 1 << 30};
      piece.set_role(static_cast<pb::Role>(roles[pick(7)]));
      break;
    }
    case 4: piece.set_tenant_id(any_string()); break;
    case 5:
      // Only one of the two, or neither: merging keeps the other from an earlier piece.
      if (pick(2) == 0) piece.mutable_ttl()->set_seconds(pick(3) == 0 ? -5 : 3600 + pick(100));
      if (pick(2) == 0) piece.mutable_ttl()->set_nanos(pick(1000));
      if (!piece.has_ttl()) piece.mutable_ttl();
      break;
    case 6: piece.set_validate_only(pick(2) == 0); break;
    case 7: piece.set_suppress_email(pick(2) == 0); break;
    case 8: break;  // an empty piece: nothing at all
    case 9: piece.set_locale(any_string()); break;
  }
  std::string bytes = piece.SerializeAsString();
  // A default value is not serialized; write a zero explicitly now and then, which a parser must
  // also accept ("false", role 0).
  if (bytes.empty() && pick(2) == 0) bytes = std::string("\x38\x00", 2);  // validate_only = 0
  return bytes;
}

// --- the reader against the generated parser -------------------------------------------------

TEST(BulkInviteWireTest, RandomRequestsReadExactlyAsTheGeneratedParserReadsThem) {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 3000; ++round) {
    std::string wire;
    const int pieces = static_cast<int>(rng() % 7);
    for (int i = 0; i < pieces; ++i) wire += RandomPiece(rng);
    pb::BulkInviteRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire)) << "round " << round;
    const BulkInviteInput want = InputOf(parsed);
    const int block = 1 + static_cast<int>(rng() % 8);
    absl::StatusOr<BulkInviteInput> got = Read(wire, kNoLimit, block);
    ASSERT_THAT(got, IsOk()) << "round " << round;
    ExpectSameInput(*got, want, absl::StrCat("round ", round, ", block ", block));
    if (HasFailure()) return;  // one round's differences say enough

    // With a maximum, the list is the same up to one element past it.
    const size_t max = rng() % 4;
    absl::StatusOr<BulkInviteInput> limited = Read(wire, max, block);
    ASSERT_THAT(limited, IsOk()) << "round " << round;
    BulkInviteInput want_limited = InputOf(parsed);
    if (want_limited.emails.size() > max + 1) want_limited.emails.resize(max + 1);
    ExpectSameInput(*limited, want_limited, absl::StrCat("round ", round, ", max ", max));
    if (HasFailure()) return;
  }
}

// A field added to the proto must be taught to the reader, or every request using it is
// refused: this fails first.
TEST(BulkInviteWireTest, EveryFieldOfTheMessageIsKnown) {
  const google::protobuf::Descriptor* descriptor = pb::BulkInviteRequest::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    pb::BulkInviteRequest request;
    const google::protobuf::Reflection* reflection = request.GetReflection();
    switch (field->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
        reflection->SetString(&request, field, "x");
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
        reflection->SetBool(&request, field, true);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_ENUM:
        reflection->SetEnumValue(&request, field, 1);
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE:
        reflection->MutableMessage(&request, field);
        break;
      default:
        ADD_FAILURE() << field->name() << ": a field type this test does not set";
        continue;
    }
    absl::StatusOr<BulkInviteInput> got = Read(request.SerializeAsString());
    ASSERT_THAT(got, IsOk()) << field->name();
    ExpectSameInput(*got, InputOf(request), field->name());
  }
}

TEST(BulkInviteWireTest, AListPastTheMaximumKeepsOneMoreAndStillReadsTheFieldsAfterIt) {
  pb::BulkInviteRequest list;
  for (int i = 0; i < 10; ++i) list.mutable_emails()->add_emails(absl::StrCat("u", i));
  // Past the maximum nothing of any list is looked at, not even whether it is UTF-8.
  pb::BulkInviteRequest more;
  more.mutable_emails()->add_emails("\xFF");
  pb::BulkInviteRequest after;
  after.set_role(pb::ROLE_VPN_USER);
  after.set_tenant_id("acme");
  after.set_validate_only(true);
  absl::StatusOr<BulkInviteInput> got = Read(
      list.SerializeAsString() + more.SerializeAsString() + after.SerializeAsString(), 2, 3);
  ASSERT_THAT(got, IsOk());
  EXPECT_THAT(got->emails, ElementsAre("u0", "u1", "u2"));
  EXPECT_EQ(got->role, inv::Role::kVpnUser);
  EXPECT_EQ(got->tenant_id, "acme");
  EXPECT_TRUE(got->validate_only);
}

TEST(BulkInviteWireTest, BlankListElementsAreKeptAndCounted) {
  pb::BulkInviteRequest request;
  for (int i = 0; i < 1000; ++i) request.mutable_emails()->add_emails("");
  absl::StatusOr<BulkInviteInput> got = Read(request.SerializeAsString(), 4);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->emails, std::vector<std::string>(5, ""));
}

TEST(BulkInviteWireTest, AFieldThisServerDoesNotDefineIsRefusedByNumber) {
  absl::StatusOr<BulkInviteInput> got = Read(std::string("\x20\x01\xA0\x06\x01", 5));  // 4, 100
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(got.status().message(), HasSubstr("no field number 100"));
}

TEST(BulkInviteWireTest, AKnownFieldSentWithAnotherWireTypeIsRefusedByName) {
  // role (4) as a length-delimited field: the generated parser would keep it as unknown.
  absl::StatusOr<BulkInviteInput> got = Read(std::string("\x22\x01x", 3));
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Fields(got.status()), ElementsAre("role"));
}

TEST(BulkInviteWireTest, UnknownFieldsInsideTheListOrTheTtlAreRefused) {
  EXPECT_THAT(Fields(Read(std::string("\x0A\x02\x10\x01", 4)).status()), ElementsAre("emails"));
  EXPECT_THAT(Fields(Read(std::string("\x32\x02\x18\x01", 4)).status()), ElementsAre("ttl"));
}

TEST(BulkInviteWireTest, StringsThatAreNotUtf8AreRefusedByNameButCsvBytesAreNot) {
  // The generated message refuses to serialize such strings: the bytes are made by hand.
  EXPECT_THAT(Fields(Read(std::string("\x12\x01\xFF", 3)).status()), ElementsAre("text"));
  EXPECT_THAT(Fields(Read(std::string("\x2A\x01\xFF", 3)).status()), ElementsAre("tenant_id"));
  EXPECT_THAT(Fields(Read(std::string("\x0A\x03\x0A\x01\xFF", 5)).status()),
              ElementsAre("emails"));
  absl::StatusOr<BulkInviteInput> csv = Read(std::string("\x1A\x01\xFF", 3));
  ASSERT_THAT(csv, IsOk());
  EXPECT_EQ(csv->document, "\xFF");
}

TEST(BulkInviteWireTest, MalformedWireDataIsRefused) {
  pb::BulkInviteRequest request;
  request.mutable_emails()->add_emails("a@example.com");
  request.set_tenant_id("acme");
  const std::string whole = request.SerializeAsString();
  // Every truncation of a message ending in a length-delimited field is malformed.
  for (size_t cut = 1; cut < whole.size(); ++cut) {
    const std::string truncated = whole.substr(0, whole.size() - cut);
    pb::BulkInviteRequest reference;
    if (reference.ParseFromString(truncated)) continue;  // happens to end on a field boundary
    EXPECT_THAT(Read(truncated, kNoLimit, 2), StatusIs(absl::StatusCode::kInvalidArgument))
        << "cut " << cut;
  }
  EXPECT_THAT(Read(std::string("\x00", 1)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Read(std::string("\x20\xFF\xFF", 3)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Read(std::string("\x0F", 1)), StatusIs(absl::StatusCode::kInvalidArgument));
  // An empty message is a valid one, with no source (which Plan then refuses).
  absl::StatusOr<BulkInviteInput> empty = Read("");
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->source, BulkSource::kNone);
}

// --- over real gRPC --------------------------------------------------------------------------

constexpr char kBulkInviteMethod[] = "/securelink.invitations.v1.InvitationService/BulkInvite";

struct RawRun {
  std::vector<std::string> responses;  // as the server wrote them
  grpc::Status status;
};

// Sends `wire` as it is and collects the raw responses.
RawRun CallRaw(TestServer& server, const std::string& wire) {
  grpc::GenericStub stub(server.channel());
  grpc::CompletionQueue cq;
  auto ctx = Context();
  auto await = [&cq](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  int tag = 0;
  auto call = stub.PrepareCall(ctx.get(), kBulkInviteMethod, &cq);
  call->StartCall(&tag);
  RawRun run;
  if (await(&tag)) {
    grpc::Slice slice(wire);
    call->Write(grpc::ByteBuffer(&slice, 1), &tag);
    if (await(&tag)) {
      call->WritesDone(&tag);
      await(&tag);
    }
    grpc::ByteBuffer response;
    while (true) {
      call->Read(&response, &tag);
      if (!await(&tag)) break;
      grpc::Slice bytes;
      EXPECT_TRUE(response.DumpToSingleSlice(&bytes).ok());
      run.responses.emplace_back(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    }
  }
  call->Finish(&run.status, &tag);
  await(&tag);
  cq.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (cq.Next(&ignored_tag, &ignored_ok)) {
  }
  return run;
}

class BulkInviteWireServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestServerOptions options;
    options.bulk_max_addresses = 5;
    absl::StatusOr<std::unique_ptr<TestServer>> s = TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }
  static void TearDownTestSuite() { delete server_; }
  static TestServer* server_;
};

TestServer* BulkInviteWireServerTest::server_ = nullptr;

TEST_F(BulkInviteWireServerTest, MergedListsAreInvitedAsOneListAndAnswersAreCanonicalBytes) {
  const std::string tenant = UniqueTenant();
  pb::BulkInviteRequest first;
  first.mutable_emails()->add_emails(UniqueEmail("merged"));
  first.mutable_emails()->add_emails("");
  pb::BulkInviteRequest header;
  header.set_role(pb::ROLE_VPN_USER);
  header.set_tenant_id(tenant);
  header.set_validate_only(true);
  pb::BulkInviteRequest second;
  second.mutable_emails()->add_emails(first.emails().emails(0));
  const RawRun run = CallRaw(*server_, first.SerializeAsString() + header.SerializeAsString() +
                                          second.SerializeAsString());
  ASSERT_THAT(run.status, IsOk());
  ASSERT_EQ(run.responses.size(), 4u);
  std::vector<pb::BulkInviteResponse> responses;
  for (const std::string& bytes : run.responses) {
    pb::BulkInviteResponse response;
    ASSERT_TRUE(response.ParseFromString(bytes));
    // What the generated stub's serializer writes for the same message.
    EXPECT_EQ(response.SerializeAsString(), bytes);
    responses.push_back(response);
  }
  EXPECT_EQ(responses[0].result().outcome(), pb::BULK_INVITE_OUTCOME_CREATED);
  EXPECT_EQ(responses[1].result().outcome(), pb::BULK_INVITE_OUTCOME_INVALID_EMAIL);
  EXPECT_EQ(responses[2].result().line(), 3);
  EXPECT_EQ(responses[2].result().outcome(), pb::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE);
  EXPECT_EQ(responses[3].summary().total(), 3);
}

TEST_F(BulkInviteWireServerTest, WireProblemsAreInvalidArgumentBeforeAnyResult) {
  pb::BulkInviteRequest valid;
  valid.mutable_emails()->add_emails(UniqueEmail("wire"));
  valid.set_role(pb::ROLE_SUPER_ADMIN);
  const std::string wire = valid.SerializeAsString();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"unknown field", wire + std::string("\xA0\x06\x01", 3)},
      {"truncated", wire.substr(0, wire.size() - 3)},
      {"text not UTF-8", wire + std::string("\x12\x01\xFF", 3)},
  };
  for (const auto& [name, bytes] : cases) {
    const RawRun run = CallRaw(*server_, bytes);
    EXPECT_THAT(run.status, StatusIs(absl::StatusCode::kInvalidArgument)) << name;
    EXPECT_TRUE(run.responses.empty()) << name;
  }
}

TEST_F(BulkInviteWireServerTest, AListOverTheMaximumIsRefusedNamingTheMaximum) {
  pb::BulkInviteRequest request;
  for (int i = 0; i < 1000; ++i) request.mutable_emails()->add_emails("");
  request.set_role(pb::ROLE_SUPER_ADMIN);
  const RawRun run = CallRaw(*server_, request.SerializeAsString());
  EXPECT_THAT(run.status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ViolatedFields(run.status), ElementsAre("emails"));
  EXPECT_THAT(run.status.error_message(),
              HasSubstr("holds more than 5 addresses; at most 5 are allowed in one call"));
  EXPECT_TRUE(run.responses.empty());
}

}  // namespace
}  // namespace securelink::testing
