// How a migration file is cut into the statements sent one by one.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/migrations.h"

namespace securelink::invitations {
namespace {

using ::testing::ElementsAre;

TEST(SplitStatements, EachStatementEndsAtALineEndingInASemicolon) {
  EXPECT_THAT(SplitStatements("-- a comment\n"
                              "CREATE TABLE a (\n"
                              "  x INT\n"
                              ");\n"
                              "\n"
                              "ALTER TABLE a ADD y INT;\n"),
              ElementsAre("CREATE TABLE a (\n  x INT\n);\n", "ALTER TABLE a ADD y INT;\n"));
}

TEST(SplitStatements, ABlockBetweenDelimiterLinesKeepsItsSemicolonsAndDropsTheDelimiter) {
  EXPECT_THAT(SplitStatements("CREATE TABLE c (n INT);\n"
                              "DELIMITER //\n"
                              "CREATE TRIGGER t BEFORE INSERT ON c FOR EACH ROW\n"
                              "BEGIN\n"
                              "  SET NEW.n = NEW.n + 1;\n"
                              "  SET NEW.n = NEW.n * 2;\n"
                              "END //\n"
                              "DELIMITER ;\n"
                              "DROP TABLE old;\n"),
              ElementsAre("CREATE TABLE c (n INT);\n",
                          "CREATE TRIGGER t BEFORE INSERT ON c FOR EACH ROW\nBEGIN\n"
                          "  SET NEW.n = NEW.n + 1;\n  SET NEW.n = NEW.n * 2;\nEND \n",
                          "DROP TABLE old;\n"));
}

TEST(SplitStatements, NoShippedMigrationSendsADelimiterLineOrAnEmptyStatement) {
  for (const Migration& m : EmbeddedMigrations()) {
    for (const std::string& statement : SplitStatements(m.sql)) {
      EXPECT_FALSE(statement.empty()) << m.name;
      EXPECT_EQ(statement.find("DELIMITER"), std::string::npos) << m.name;
    }
  }
}

}  // namespace
}  // namespace securelink::invitations
