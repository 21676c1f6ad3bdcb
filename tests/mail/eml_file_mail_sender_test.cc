// EmlFileMailSender: the local-run transport writes complete, parsable .eml files atomically.
#include "server/mail/eml_file_mail_sender.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/mail/message.h"
#include "server/mail/mime.h"
#include "tests/mail/mail_test_support.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations::mail {
namespace {

using ::securelink::testing::InspectMessage;
using ::securelink::testing::IsOk;
using ::securelink::testing::ParsedMessage;
using ::securelink::testing::StatusIs;
using ::securelink::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kSender[] = "noreply@securelink.example";

OutgoingMail Invitation(const std::string& message_id, const std::string& token) {
  InvitationEmail email;
  email.to = "zoe@customer.example";
  email.role_display = RoleDisplayName(Role::kVpnUser);
  email.tenant_id = "acme";
  email.expire_time = absl::Now() + absl::Hours(168);
  email.registration_url = "https://register.securelink.example/accept?token=" + token;
  absl::StatusOr<std::string> data =
      RenderInvitationMessage(email, DefaultMailTemplates(), kSender,
                              MakeMessageId(message_id, "securelink.example"), absl::Now());
  EXPECT_THAT(data, IsOk());
  return OutgoingMail{kSender, email.to, message_id, data.value_or("")};
}

std::vector<std::string> FileNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(EmlFileMailSenderTest, WritesAParsableMessageNamedAfterItsId) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<EmlFileMailSender>> sender =
      EmlFileMailSender::Create(dir / "outbox");
  ASSERT_THAT(sender, IsOk());
  const OutgoingMail mail = Invitation("<inv-1.outbox-7@securelink.example>", "tok-eml");

  ASSERT_THAT((*sender)->Send(mail), IsOk());

  EXPECT_THAT(FileNames(dir / "outbox"), ElementsAre("inv-1.outbox-7@securelink.example.eml"));
  const std::string path = dir / "outbox/inv-1.outbox-7@securelink.example.eml";
  EXPECT_EQ(ReadFile(path), mail.data);
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(ReadFile(path));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->defects, IsEmpty());
  EXPECT_THAT(parsed->Body("text/plain"),
              HasSubstr("https://register.securelink.example/accept?token=tok-eml"));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the file holds a registration link";
}

TEST(EmlFileMailSenderTest, CreatesMissingDirectoriesAndRecreatesARemovedOne) {
  TempDir dir;
  const std::string target = dir / "a/b/mail";
  absl::StatusOr<std::unique_ptr<EmlFileMailSender>> sender = EmlFileMailSender::Create(target);
  ASSERT_THAT(sender, IsOk());
  EXPECT_TRUE(std::filesystem::is_directory(target));
  std::filesystem::remove_all(target);
  ASSERT_THAT((*sender)->Send(Invitation("id-1@x.example", "tok")), IsOk());
  EXPECT_THAT(FileNames(target), SizeIs(1));
}

TEST(EmlFileMailSenderTest, SendingTheSameMessageAgainLeavesOneFile) {
  TempDir dir;
  auto sender = *EmlFileMailSender::Create(dir.path());
  ASSERT_THAT(sender->Send(Invitation("retry-1@x.example", "tok-a")), IsOk());
  ASSERT_THAT(sender->Send(Invitation("retry-1@x.example", "tok-a")), IsOk());
  EXPECT_THAT(FileNames(dir.path()), ElementsAre("retry-1@x.example.eml"));
}

TEST(EmlFileMailSenderTest, HostileMessageIdsStayInsideTheDirectoryAndDistinct) {
  TempDir dir;
  auto sender = *EmlFileMailSender::Create(dir / "mail");
  ASSERT_THAT(sender->Send(Invitation("../../escape@x.example", "t1")), IsOk());
  ASSERT_THAT(sender->Send(Invitation("__..__escape@x.example", "t2")), IsOk());
  ASSERT_THAT(sender->Send(Invitation(".hidden", "t3")), IsOk());
  const std::vector<std::string> names = FileNames(dir / "mail");
  EXPECT_THAT(names, SizeIs(3));
  for (const std::string& name : names) {
    EXPECT_FALSE(absl::StartsWith(name, ".")) << name;
    EXPECT_TRUE(absl::EndsWith(name, ".eml")) << name;
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
  }
  EXPECT_EQ(FileNames(dir.path()), std::vector<std::string>{"mail"});
}

TEST(EmlFileMailSenderTest, ConcurrentSendsLeaveCompleteFilesAndNoTemporaries) {
  TempDir dir;
  auto sender = *EmlFileMailSender::Create(dir.path());
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(16);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        // Half the sends share an id, as a retry racing a slow first attempt would.
        const int n = t * 4 + i;
        results[n] = sender->Send(Invitation(absl::StrCat("c-", n % 8, "@x.example"), "tok"));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) EXPECT_THAT(status, IsOk());
  const std::vector<std::string> names = FileNames(dir.path());
  EXPECT_THAT(names, SizeIs(8));
  for (const std::string& name : names) {
    absl::StatusOr<ParsedMessage> parsed = InspectMessage(ReadFile(dir / name));
    ASSERT_THAT(parsed, IsOk());
    EXPECT_THAT(parsed->parts, SizeIs(2)) << name;
  }
}

TEST(EmlFileMailSenderTest, DirectoryThatIsAFileIsUnavailable) {
  TempDir dir;
  std::ofstream(dir / "not-a-dir") << "x";
  EXPECT_THAT(EmlFileMailSender::Create(dir / "not-a-dir"),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(EmlFileMailSender::Create(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EmlFileMailSenderTest, MalformedEnvelopeOrEmptyIdIsInvalidArgument) {
  TempDir dir;
  auto sender = *EmlFileMailSender::Create(dir.path());
  OutgoingMail mail = Invitation("x@x.example", "tok");
  mail.envelope_to = "zoe@customer.example\r\nBcc: eve@evil.example";
  EXPECT_THAT(sender->Send(mail), StatusIs(absl::StatusCode::kInvalidArgument));
  mail = Invitation("x@x.example", "tok");
  mail.message_id = "";
  EXPECT_THAT(sender->Send(mail), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FileNames(dir.path()), IsEmpty());
}

}  // namespace
}  // namespace securelink::invitations::mail
