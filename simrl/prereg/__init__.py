"""Pre-registered factorial studies: spec, lock, grid, store, executors, analysis, report.

    simrl prereg register STUDY [--amend "reason"]      write (or amend) the lock
    simrl prereg run STUDY [--dry-run] [--workers N] [--executor local|ray] [--address A]
    simrl prereg analyze STUDY                           report.md, results.parquet, figures
    simrl prereg all STUDY [run's options]               register if not yet, run, analyze

A study is a folder experiments/<study>/ with prereg.toml (spec.py documents its format).
"""
