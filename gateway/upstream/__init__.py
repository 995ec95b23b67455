"""Upstream services: RPC servers that run elsewhere, served through the one method table.

``--service [PREFIX=]URL`` (gateway.upstream.urls) builds an ``Upstream``
(gateway.upstream.service) whose methods join the table beside the in-process
services. Modules: urls (addresses and options), credentials (secrets),
http_transport (pooled HTTP/HTTPS/Unix), xmlrpc_upstream, jsonrpc_upstream,
zerorpc_upstream (the three protocol clients), values (what may cross into
which protocol), circuit (in-flight bound and circuit breaker), figures (their
counts in /metrics).
"""
