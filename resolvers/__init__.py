"""The service core: use cases that take a Caller and an input and return domain objects.

Protocol-free: nothing here imports starlette or strawberry. The edges (rest/, schema/) translate.
"""
