# What `cmake --install` adds to the executables (DESIGN.md §7.5): the libraries and headers each
# folder installs (conveyor_install), the CMake package Conveyor (lib/cmake/Conveyor), the
# pkg-config file conveyor.pc, and the Python package of clients/python. Every path is relative
# to the prefix, so `cmake --install build --prefix P` and `cpack` put the same tree anywhere.
include(CMakePackageConfigHelpers)

set(conveyor_cmake_dir lib/cmake/Conveyor)
install(EXPORT ConveyorTargets NAMESPACE Conveyor:: DESTINATION ${conveyor_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ConveyorConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ConveyorConfig.cmake INSTALL_DESTINATION ${conveyor_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ConveyorConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)  # 0.x: a minor version may break
install(FILES ${PROJECT_BINARY_DIR}/ConveyorConfig.cmake
              ${PROJECT_BINARY_DIR}/ConveyorConfigVersion.cmake
        DESTINATION ${conveyor_cmake_dir})

# Static libraries in link order: each before the ones it uses.
set(CONVEYOR_PC_LIBS "")
foreach(lib producer consumer producer_core consumer_core runtime metrics common proto)
  string(APPEND CONVEYOR_PC_LIBS " -lconveyor_${lib}")
endforeach()
string(STRIP "${CONVEYOR_PC_LIBS}" CONVEYOR_PC_LIBS)
configure_file(${CMAKE_CURRENT_LIST_DIR}/conveyor.pc.in ${PROJECT_BINARY_DIR}/conveyor.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/conveyor.pc DESTINATION lib/pkgconfig)

# Where Debian's python3 looks for prefix /usr; for any other prefix P, the README says to set
# PYTHONPATH=P/lib/python3/dist-packages.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/clients/python/conveyor
        DESTINATION lib/python3/dist-packages PATTERN __pycache__ EXCLUDE)
