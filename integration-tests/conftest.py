"""Integration tests: several pieces together on real Postgres and Redis.

Each test here needs both servers; see svc_core.testing.backends for the variables.
"""
