"""Use cases, one module per feature, each with its dependencies passed in.

Sibling use cases never import each other; the entry point (`bot.services`) builds them and
hands them to the handlers. Shared plumbing lives in `bot.jobs` (durable job records),
`bot.slack` (replies and files), `bot.w3ipfs` and `bot.store` (adapters).
"""
