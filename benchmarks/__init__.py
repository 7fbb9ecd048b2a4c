"""Benchmarks of the SDK and the mock server, each against a baseline measured in the same run.

Run them with ``nox -s bench`` (``-- --quick`` for the short CI run); ``python -m benchmarks.run
--help`` lists the options. ``benchmarks/README.md`` says what each figure measures.
"""
