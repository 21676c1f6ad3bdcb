# Generates a C++ source holding every storage/migrations/NNNN_name.sql file, so the binary
# carries its schema and any replica can migrate without shipping SQL files beside it.
# Usage: cmake -DSRC_DIR=... -DOUT=... -P embed_migrations.cmake
file(GLOB files RELATIVE ${SRC_DIR} ${SRC_DIR}/*.sql)
list(SORT files)
set(body "")
foreach(f ${files})
  string(REGEX MATCH "^([0-9]+)_(.*)\\.sql$" _ ${f})
  if(NOT CMAKE_MATCH_1)
    message(FATAL_ERROR "migration file ${f} must be named NNNN_name.sql")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  file(READ ${SRC_DIR}/${f} sql)
  string(APPEND body "      {${version}, \"${CMAKE_MATCH_2}\", R\"securelink_sql(${sql})securelink_sql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from storage/migrations by embed_migrations.cmake. Do not edit.
#include \"storage/migrations.h\"

namespace securelink::invitations {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
${body}  };
  return *migrations;
}

}  // namespace securelink::invitations
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
