"""Emulators of the Slack Web API and the W3IPFS pinning API, served by aiohttp on 127.0.0.1.

They ship with the package (not only in tests/) so that `pinbot demo` can show the real app at
work with no account, no settings and no network; the test suite drives the same emulators.
`bot/` never imports them: they are fixtures around the core, not part of it.
"""
