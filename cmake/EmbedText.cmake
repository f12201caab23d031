# Turns a text file into a C++ source defining it as a std::string_view, so that the file stays
# editable on its own (the broker's status page: broker/status_page.html) and the executable needs
# nothing beside it at run time. Run at build time, whenever INPUT changes:
#   cmake -DINPUT=page.html -DOUTPUT=page.cpp -DNAMESPACE=conveyor::broker -DNAME=kPage -P EmbedText.cmake
foreach(var INPUT OUTPUT NAMESPACE NAME)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "EmbedText.cmake: -D${var}=... is missing")
  endif()
endforeach()
file(READ ${INPUT} text)
# A raw string literal holds the text byte for byte, as long as its closing sequence is not in it.
set(delimiter "embedded_text")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains )${delimiter}\", which would end the literal")
endif()
file(WRITE ${OUTPUT}.tmp
  "// Generated from ${INPUT} by cmake/EmbedText.cmake: edit that file, not this one.\n"
  "#include <string_view>\n\n"
  "namespace ${NAMESPACE} {\n\n"
  "extern const std::string_view ${NAME};\n"
  "const std::string_view ${NAME} = R\"${delimiter}(${text})${delimiter}\";\n\n"
  "}  // namespace ${NAMESPACE}\n")
# Rewritten only when the text changed, so that an unchanged page recompiles nothing.
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
