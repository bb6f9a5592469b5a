"""Jobs of the OGC API processes: durable records and results, and the executors that run them.

This package knows nothing of HTTP: ``ocsge_processes.server.manager`` adapts it to pygeoapi's manager, and the
processors a job runs are pygeoapi's, reached through ``processors`` (the package's only pygeoapi import).
"""
