"""Throwaway NATS and SecantusDB servers for tests, benchmarks and the local runtime."""
