"""The benchmark's sections, one module each; every module has ``run(bench)``.

:mod:`bench.cases` lists them in the order the suite runs them.
"""
