"""Builds remotemedia._native against the in-tree libremotemedia.

The C library comes from the CMake build of this repository: build/release
(run `make build` first) or the directory named by RMEDIA_LIB_DIR.  The
extension records that directory as its run-time search path (rpath), so no
LD_LIBRARY_PATH is needed.  Offline (PyPI is unreachable) use the Debian
setuptools and either

    /usr/bin/python3 -m pip install --no-build-isolation --break-system-packages ./python
    /usr/bin/python3 python/setup.py build_ext --inplace     # tests, no install
"""
import os
import sys

from setuptools import Extension, setup

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

native = Extension(
    "remotemedia._native",
    sources=[os.path.join("src", f) for f in ("module.c", "convert.c", "session.c", "pynode.c")],
    include_dirs=[INCLUDE_DIR, numpy_include()],
    library_dirs=[LIB_DIR],
    libraries=["remotemedia", "jansson"],
    runtime_library_dirs=[LIB_DIR],
    extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers",
                        "-Wno-cast-function-type", "-fvisibility=hidden"],
    depends=[os.path.join("src", "rmpy.h")],
)

setup(
    name="remotemedia",
    version="0.1.0",
    description="Real-time media and AI pipelines: asyncio API over the RemoteMedia C runtime",
    packages=["remotemedia", "remotemedia.fallback", "remotemedia.fallback.nodes"],
    package_data={"remotemedia": ["py.typed", "*.pyi"]},
    ext_modules=[native],
    python_requires=">=3.9",
    install_requires=["numpy"],
    extras_require={"yaml": ["PyYAML"]},
    zip_safe=False,
)
