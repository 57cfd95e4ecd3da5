"""Compiled execution for the documents the service has seen: the technique of graphql-jit.

- `plans`: which documents have a plan (by their text, or for trusted documents by the process),
  admitted with the same limits and validation as Strawberry's path;
- `plan`: one operation, ready to run: its root fields and how to execute them;
- `compiler`: the nested fields of a selection turned into small functions (graphql-core's
  `complete_value`, specialised once);
- `coercion`: the request's variables and the root fields' arguments, converted as graphql-core
  and Strawberry would, planned once;
- `private`: every private name of Strawberry and graphql-core the above relies on, pinned by
  `tests/unit/test_private_api.py`.

Whatever a plan would not reproduce exactly is not compiled, and `schema/endpoint.py`'s pipeline
runs it through Strawberry's executor instead; `tests/contract/test_compiled.py` proves the two
answer alike, document by document. This `__init__` imports nothing: `schema.extensions` reads
`private`.
"""
