# embed_files(<out_var> DIR <dir> FUNCTION <ns::Name> [PATTERN <glob>])
# Generates a source that compiles the files below <dir> into the binary (embed_files.cmake) and
# puts its path in <out_var>, to be added to a target. The build regenerates it when a file of
# <dir> changes, is added or removed.
function(embed_files out_var)
  cmake_parse_arguments(EMBED "" "DIR;FUNCTION;PATTERN" "" ${ARGN})
  if(NOT EMBED_PATTERN)
    set(EMBED_PATTERN "*")
  endif()
  file(GLOB_RECURSE inputs CONFIGURE_DEPENDS ${EMBED_DIR}/${EMBED_PATTERN})
  string(MAKE_C_IDENTIFIER "${EMBED_FUNCTION}" stem)
  set(output ${CMAKE_CURRENT_BINARY_DIR}/embedded_${stem}.cc)
  set(script ${PROJECT_SOURCE_DIR}/server/util/embed_files.cmake)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DDIR=${EMBED_DIR} -DOUTPUT=${output} -DFUNCTION=${EMBED_FUNCTION}
            -DPATTERN=${EMBED_PATTERN} -P ${script}
    DEPENDS ${inputs} ${script}
    COMMENT "Embedding ${EMBED_DIR}"
    VERBATIM)
  set(${out_var} ${output} PARENT_SCOPE)
endfunction()
