# CMake toolchain for wasm32-wasi with Debian's clang-14, lld-14 and wasi-libc
# (clang finds the wasi-libc sysroot under /usr on its own).  Used by
# scripts/build-wasm; see docs/wasm.md.
set(CMAKE_SYSTEM_NAME WASI)
set(CMAKE_SYSTEM_VERSION 1)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
# Platform/WASI.cmake next to this file tells CMake what a WASI target is.
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")

set(CMAKE_C_COMPILER clang-14)
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
find_program(CMAKE_AR NAMES llvm-ar-14 llvm-ar PATHS /usr/lib/llvm-14/bin REQUIRED)
find_program(CMAKE_RANLIB NAMES llvm-ranlib-14 llvm-ranlib PATHS /usr/lib/llvm-14/bin REQUIRED)

# Headers and libraries of the host must never leak into a wasm build.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# wasm-ld's default stack is 64 KiB placed after the data, where an overflow
# silently corrupts globals and the heap.  Put a 1 MiB stack first, so an
# overflow traps instead.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--stack-first -Wl,-z,stack-size=1048576")
# Debian's wasi-libc.a carries DWARF that would double a release module;
# the name section stays, so traps still show function names.
set(CMAKE_EXE_LINKER_FLAGS_RELEASE_INIT "-Wl,--strip-debug")
