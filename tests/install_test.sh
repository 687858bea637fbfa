#!/usr/bin/env bash
# The installed library works for someone outside the tree: headers, the
# pkg-config file, and an out-of-tree plugin built with them.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -eu
BUILD=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig:$T/prefix/lib/x86_64-linux-gnu/pkgconfig"
CFLAGS=$(pkg-config --cflags remotemedia)
LIBS=$(pkg-config --libs remotemedia)
[[ "$(pkg-config --modversion remotemedia)" == "$("$BUILD/rmedia" version | awk '{print $2}')" ]] \
  || { echo "pkg-config version differs from rmedia's"; exit 1; }
# the installed rmedia runs from any prefix without LD_LIBRARY_PATH or
# ldconfig (runpath $ORIGIN/../lib), and uses the installed library
out=$(cd "$T" && echo '[5, 7, 3]' | env -u LD_LIBRARY_PATH "$T/prefix/bin/rmedia" run "$SRC/examples/calculator.json" 2>&1) \
  || { echo "installed rmedia does not run: $out"; exit 1; }
[[ "$out" == "[20,24,16]" ]] || { echo "installed rmedia printed: $out"; exit 1; }
lib=$(realpath "$(env -u LD_LIBRARY_PATH ldd "$T/prefix/bin/rmedia" | awk '/libremotemedia/ {print $3}')")
[[ "$lib" == "$T/prefix/lib/"* ]] || { echo "installed rmedia loads the library from '$lib', not the prefix"; exit 1; }
# every public header compiles on its own, as C11 with warnings as errors
for h in "$T"/prefix/include/remotemedia/*.h; do
  printf '#include <remotemedia/%s>\nint main(void) { return 0; }\n' "$(basename "$h")" >"$T/h.c"
  cc -std=c11 -Wall -Wextra -Werror -pedantic $CFLAGS -c "$T/h.c" -o "$T/h.o" \
    || { echo "header $(basename "$h") does not compile alone"; exit 1; }
done
# the example plugin, built the way its comment says, loads and runs
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$T/clamp.so" "$SRC/examples/plugin/clamp_node.c" $CFLAGS $LIBS
printf 'version: v1\nnodes: [{id: c, node_type: ClampNode, params: {min: 0, max: 10}}]\n' >"$T/clamp.yaml"
out=$(echo '[-1, 5, 99]' | "$BUILD/rmedia" --plugin "$T/clamp.so" run "$T/clamp.yaml" 2>&1) \
  || { echo "plugin run failed: $out"; exit 1; }
[[ "$out" == "[0,5,10]" ]] || { echo "plugin output: $out"; exit 1; }
# a program linked against the installed library
cat >"$T/prog.c" <<'C'
#include <remotemedia/remotemedia.h>
#include <stdio.h>
int main(void)
{
    rm_runtime *rt;
    rm_error err;
    if (rm_runtime_new_with_builtins(NULL, &rt, &err) != 0) return 1;
    printf("%zu\n", rm_runtime_node_type_count(rt));
    rm_runtime_free(rt);
    return 0;
}
C
cc -std=c11 -Wall -Wextra -Werror "$T/prog.c" -o "$T/prog" $CFLAGS $LIBS
n=$(LD_LIBRARY_PATH="$T/prefix/lib" "$T/prog")
[[ "$n" -ge 6 ]] || { echo "installed library lists $n node types"; exit 1; }
echo "install: rmedia from the prefix, headers, pkg-config, out-of-tree plugin and program OK"
