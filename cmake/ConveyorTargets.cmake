# How Conveyor's targets are declared: warnings, the include layout, and the sans-IO layer.

# Our own code builds warning-free; generated protobuf code is exempt (see proto/).
function(conveyor_strict target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Werror)
  # GCC 12 at -O3 reports -Wrestrict inside libstdc++'s string operator+ (GCC bug 105329):
  # a false positive in the standard library, not in our code, so it stays a warning there.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-error=restrict)
  endif()
endfunction()

# Makes the headers of the calling folder includable as "conveyor/<folder>/x.hpp" by `target` and
# by whatever links it, and by nothing else: a build-tree root holding one link to the folder. The
# repository root is never an include path, so a target that does not link another cannot
# include its headers by accident (installed, the same names resolve under include/).
function(conveyor_expose_headers target)
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  set(root ${PROJECT_BINARY_DIR}/include/${folder})
  file(MAKE_DIRECTORY ${root}/conveyor)
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${root}/conveyor/${folder} SYMBOLIC)
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}>
                                              $<INSTALL_INTERFACE:include>)
endfunction()

# A sans-IO target (broker::Core, the client sessions): its sources see ZeroMQ's headers replaced
# by ones that stop the build (cmake/sans_io/), and it links no socket library.
function(conveyor_sans_io target)
  target_include_directories(${target} BEFORE PRIVATE ${PROJECT_SOURCE_DIR}/cmake/sans_io)
endfunction()

# Installs the calling folder's libraries of the C++ API and its headers (DESIGN.md §7.5): each
# target as Conveyor::<name> (its name without conveyor_) in the exported package, the headers
# under include/conveyor/<folder>/. In the tree Conveyor::<name> is an alias, so that code linking
# the package (examples/) names the same targets built here or installed.
function(conveyor_install)
  foreach(target IN LISTS ARGN)
    string(REGEX REPLACE "^conveyor_" "" name ${target})
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
    add_library(Conveyor::${name} ALIAS ${target})
    install(TARGETS ${target} EXPORT ConveyorTargets ARCHIVE DESTINATION lib)
    # `--strip` and cpack strip only executables; an archive keeps its symbols, not its debug info.
    install(CODE "if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/$<TARGET_FILE_NAME:${target}>\"
        COMMAND_ERROR_IS_FATAL ANY)
    endif()")
  endforeach()
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/ DESTINATION include/conveyor/${folder}
          FILES_MATCHING PATTERN "*.hpp")
endfunction()
