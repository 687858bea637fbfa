"""Builds remotemedia._native and ships libremotemedia inside the package.

The C library comes from the CMake build of this repository: build/release
(run `make build` first) or the directory named by RMEDIA_LIB_DIR.  Its
libremotemedia.so.0 (the runtime with every node family of that build) is
copied next to the extension, whose run-time search path is $ORIGIN: the
installed package and a wheel hold no path into the source or build tree.
Offline (PyPI is unreachable) use the Debian setuptools and either

    /usr/bin/python3 -m pip install --no-build-isolation --break-system-packages ./python
    /usr/bin/python3 python/setup.py build_ext --inplace     # tests, no install
"""
import os
import sys

import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB_DIR = os.path.abspath(os.environ.get("RMEDIA_LIB_DIR") or os.path.join(ROOT, "build", "release"))
INCLUDE_DIR = os.path.join(ROOT, "include")


def numpy_include():
    import numpy

    return numpy.get_include()


if not any(a in sys.argv for a in ("sdist", "egg_info", "--help", "clean")) and not os.path.exists(
    os.path.join(LIB_DIR, "libremotemedia.so")
):
    sys.exit(
        f"remotemedia: {LIB_DIR}/libremotemedia.so not found: build the C library first "
        "(`make build` at the repository root) or set RMEDIA_LIB_DIR to the directory that holds it"
    )

# Builds with the gRPC transport also have the client and RemotePipeline as
# libremotemedia_remote (remotemedia.RemotePipeline needs it).
WITH_REMOTE = os.path.exists(os.path.join(LIB_DIR, "libremotemedia_remote.so"))

native = Extension(
    "remotemedia._native",
    sources=[os.path.join("src", f) for f in ("module.c", "convert.c", "session.c", "pynode.c")],
    include_dirs=[INCLUDE_DIR, numpy_include()],
    library_dirs=[LIB_DIR],
    libraries=["remotemedia", "jansson"] + (["remotemedia_remote"] if WITH_REMOTE else []),
    define_macros=[("RMPY_WITH_REMOTE", "1")] if WITH_REMOTE else [],
    runtime_library_dirs=["$ORIGIN"],
    extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers",
                        "-Wno-cast-function-type", "-fvisibility=hidden"],
    depends=[os.path.join("src", "rmpy.h")],
)

SONAME = "libremotemedia.so.0"
SONAMES = [SONAME] + (["libremotemedia_remote.so.0"] if WITH_REMOTE else [])


class BuildExt(build_ext):
    """Copies the runtime library (the file the soname points at) next to the
    extension, wherever build_ext puts it (build/lib… or, --inplace, the
    source package)."""

    def run(self) -> None:
        super().run()
        dest = os.path.dirname(self.get_ext_fullpath("remotemedia._native"))
        os.makedirs(dest, exist_ok=True)
        for so in SONAMES:
            shutil.copyfile(os.path.realpath(os.path.join(LIB_DIR, so)), os.path.join(dest, so))

    def get_outputs(self):  # so that install/bdist_wheel record the library
        return super().get_outputs() + [
            os.path.join(os.path.dirname(self.get_ext_fullpath("remotemedia._native")), so) for so in SONAMES]


setup(
    name="remotemedia",
    version="0.1.0",
    description="Real-time media and AI pipelines: asyncio API over the RemoteMedia C runtime",
    packages=["remotemedia", "remotemedia.fallback", "remotemedia.fallback.nodes"],
    package_data={"remotemedia": ["py.typed", "*.pyi"]},
    ext_modules=[native],
    cmdclass={"build_ext": BuildExt},
    python_requires=">=3.9",
    install_requires=["numpy"],
    extras_require={"yaml": ["PyYAML"]},
    zip_safe=False,
)
