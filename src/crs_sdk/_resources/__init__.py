"""The API's resources, one module each, with a sync and an async class sharing the pure parts.

Import them from their modules. The evidence resource (``_evidence``) is loaded only when a client's
``evidence`` is first used: it brings in the uploader and asyncio.
"""
