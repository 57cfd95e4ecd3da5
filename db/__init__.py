"""Data layer: Piccolo tables, migrations, the engine chosen by DATABASE_URL, and the queries.

The only package that imports Piccolo or a database driver.
"""
