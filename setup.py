"""Only the compiled part of critpath; everything else is declared in pyproject.toml.

The OTLP protobuf span decoder has a C accelerator. It is optional: where no C compiler
is available the build goes on without it and the pure-Python decoder is used instead
(``critpath --version`` and ``make bench`` say which one is in use).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("analyzer.decode._otlpwire", ["analyzer/decode/_otlpwire.c"],
              extra_compile_args=["-O2", "-Wall", "-Wno-missing-braces"], optional=True),
])
