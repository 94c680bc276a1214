"""Sections of ``benchmarks/reproduce.py``: one module per method, each with ``NAME``,
``DESCRIPTION`` and ``run(args) -> str`` (a markdown table)."""
