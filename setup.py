"""Build of the C core, nativeffi._core: every csrc/*.c file, linked with the system libffi."""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup


def pkg_config(*args):
    """Return pkg-config's answer for libffi as a list of flags, or stop the build naming the package."""
    exe = shutil.which("pkg-config") or shutil.which("pkgconf")
    found = exe and subprocess.run([exe, "--exists", "libffi"]).returncode == 0
    if not found:
        sys.exit(
            "nativeffi: libffi was not found through pkg-config.\n"
            "Install its headers and pkg-config, e.g. `apt-get install libffi-dev pkg-config`, then build again."
        )
    return subprocess.check_output([exe, *args, "libffi"], text=True).split()


cflags = pkg_config("--cflags")
# ELF: calls into libpython and libc through the GOT, without a PLT stub's extra indirect jump (callback upcalls
# make six such calls each).
no_plt = ["-fno-plt"] if sys.platform.startswith("linux") else []
libs = pkg_config("--libs")
libffi_version = pkg_config("--modversion")[0]  # nativeffi._core.LIBFFI_VERSION (python -m nativeffi info)
# NATIVEFFI_SANITIZE=1: an AddressSanitizer + UndefinedBehaviorSanitizer build for .ci/sanitize (never installed).
sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"] \
    if os.environ.get("NATIVEFFI_SANITIZE") == "1" else []
core = Extension(
    "nativeffi._core",
    sources=sorted(glob.glob("csrc/*.c")),
    depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/*.def")),
    include_dirs=["csrc"] + [f[2:] for f in cflags if f.startswith("-I")],
    libraries=[f[2:] for f in libs if f.startswith("-l")] + ["dl", "pthread"],
    library_dirs=[f[2:] for f in libs if f.startswith("-L")],
    define_macros=[("NF_LIBFFI_VERSION", f'"{libffi_version}"')],
    extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-Wno-missing-field-initializers", "-Wno-type-limits", "-fvisibility=hidden", *no_plt,
                        *sanitize],
    extra_link_args=sanitize,
)

setup(ext_modules=[core])
