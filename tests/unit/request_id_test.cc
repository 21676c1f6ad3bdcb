#include "server/domain/request_id.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

using ::testing::MatchesRegex;
using ::testing::Ne;

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kGeneratedShape[] = "[0-9a-f]{32}";

TEST(RequestIdFor, TheCallersRequestIdWins) {
  EXPECT_EQ(RequestIdFor("3f2c9a1e-7b7d-4c1e-9a51-8c1b2f0d6e11", kTraceparent),
            "3f2c9a1e-7b7d-4c1e-9a51-8c1b2f0d6e11");
  EXPECT_EQ(RequestIdFor("01HF8Z3K6Q.job_7:retry-2", ""), "01HF8Z3K6Q.job_7:retry-2");
}

TEST(RequestIdFor, WithoutOneTheTraceparentsTraceIdIsUsed) {
  EXPECT_EQ(RequestIdFor("", kTraceparent), "4bf92f3577b34da6a3ce929d0e0e4736");
  // A later version may append fields; version 00 may not.
  EXPECT_EQ(RequestIdFor("", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(RequestIdFor, AnUnusableValueIsReplacedByANewId) {
  const std::string too_long(kMaxXRequestIdLength + 1, 'a');
  for (const char* bad_id : {"has space", "quote\"", "line\nbreak", "\xc3\xa9", ""}) {
    EXPECT_THAT(RequestIdFor(bad_id, ""), MatchesRegex(kGeneratedShape)) << bad_id;
  }
  EXPECT_THAT(RequestIdFor(too_long, ""), MatchesRegex(kGeneratedShape));
  EXPECT_EQ(RequestIdFor(std::string(kMaxXRequestIdLength, 'a'), ""),
            std::string(kMaxXRequestIdLength, 'a'));
  for (const char* bad_parent :
       {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // invalid version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // extra field in 00
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",     // short trace id
        "garbage"}) {
    EXPECT_THAT(RequestIdFor("", bad_parent), MatchesRegex(kGeneratedShape)) << bad_parent;
  }
}

TEST(NewRequestId, EachIsNewAndShapedLikeATraceId) {
  const std::string first = NewRequestId();
  EXPECT_THAT(first, MatchesRegex(kGeneratedShape));
  EXPECT_THAT(NewRequestId(), Ne(first));
}

}  // namespace
}  // namespace securelink::invitations
